"""Run a Workflow on this machine: the engine the operator uses, with child
processes instead of Jobs.

One asyncio loop owns the engine. Each launch becomes a child process running the
real task runtime; what happens to it (started, its outcome, a crash, a timeout)
comes back to the loop as an event, is fed to the engine, and the resulting step is
persisted before its kills and launches are carried out, the order the operator
keeps. `wake_at` is honoured by waiting for the next event no longer than that.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubecanvas.canvas.compiler import compile_spec
from kubecanvas.canvas.model import Workflow
from kubecanvas.engine.effects import Kill, Launch, Step
from kubecanvas.engine.events import Expired, Failed, Revoke, Start, Started, Tick
from kubecanvas.engine.machine import Engine
from kubecanvas.local.attempts import (
    child_environment,
    expected_call,
    is_errback_input,
    task_inputs,
    time_limit_exceeded,
    worker_lost,
)
from kubecanvas.local.processes import TaskProcess
from kubecanvas.local.stores import expire_after
from kubecanvas.report.document import WorkflowDocument, workflow_document
from kubecanvas.store.layout import Outcome, WorkflowMeta
from kubecanvas.store.memory import MemoryStore, ResultStore
from kubecanvas.store.taskside import TaskInputs, needed_results

__all__ = ["DEFAULT_CONCURRENCY", "LocalRunner", "Observer", "run_workflow"]

DEFAULT_CONCURRENCY = max(4, os.cpu_count() or 1)

Observer = Callable[[Engine, Step], None]
"""Called after every step the runner carried out (progress displays use it)."""

_Event = Callable[[float], Step]


class LocalRunner:
    """Runs one validated Workflow to its end; `await runner.run()` returns the document.

    `code_dir` stands in for `spec.code` (it goes on the children's PYTHONPATH);
    `log_dir` keeps each attempt's output as `<task id>.<attempt>.log` (default: a
    temporary directory, removed at the end).
    """

    def __init__(
        self,
        workflow: Workflow,
        *,
        code_dir: str | Path | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        store: ResultStore | None = None,
        log_dir: str | Path | None = None,
        kill_grace: float = 3.0,
        observer: Observer | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self.workflow = workflow
        self.name = workflow.metadata.name or (workflow.metadata.generate_name or "workflow").rstrip("-")
        self.uid = f"local-{self.name}-{uuid.uuid4().hex[:8]}"
        self.graph = compile_spec(workflow.spec)
        self.engine = Engine(self.graph, parallelism=min(concurrency, workflow.spec.parallelism))
        self.store: ResultStore = store if store is not None else MemoryStore()
        self.code_dir = Path(code_dir).resolve() if code_dir is not None else None
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.kill_grace = kill_grace
        self.observer = observer
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: asyncio.Queue[_Event | BaseException] | None = None
        self._processes: dict[tuple[str, int], TaskProcess] = {}
        self._stopped: set[tuple[str, int]] = set()
        self._attempts: set[asyncio.Task[None]] = set()
        self._revoke_requested = False

    # ------------------------------------------------------------------ API

    def revoke(self) -> None:
        """Cancel the workflow (Ctrl-C, tests). Safe from any thread, before or during `run`."""
        self._revoke_requested = True
        loop, events = self._loop, self._events
        if loop is None or events is None or loop.is_closed():
            return

        def event(now: float) -> Step:
            return self.engine.feed(Revoke(now))

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            events.put_nowait(event)
        else:
            loop.call_soon_threadsafe(events.put_nowait, event)

    async def run(self) -> WorkflowDocument:
        """Run the workflow to its end and return its document."""
        self._loop = asyncio.get_running_loop()
        self._events = asyncio.Queue()
        temporary = None if self.log_dir else tempfile.TemporaryDirectory(prefix="kubecanvas-")
        workdir = self.log_dir or Path(temporary.name if temporary else ".")
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            return await self._run(workdir)
        finally:
            for process in self._processes.values():
                process.kill_now()  # only left when `run` is cancelled or crashed
            await asyncio.gather(*self._attempts, return_exceptions=True)
            if temporary is not None:
                temporary.cleanup()

    async def document(self) -> WorkflowDocument:
        """The workflow's document as it stands now."""
        results = await self.store.results(self.uid)
        calls = await self.store.calls(self.uid)
        return workflow_document(self.name, self.engine, results, calls)

    # ------------------------------------------------------------------ the loop

    async def _run(self, workdir: Path) -> WorkflowDocument:
        assert self._events is not None
        meta = WorkflowMeta(
            name=self.name, namespace="local", parallelism=self.engine.parallelism, created_at=time.time()
        )
        await self.store.create(self.uid, self.graph, meta)
        now = time.time()
        revoke = self.workflow.spec.revoke or self._revoke_requested
        step = self.engine.feed(Revoke(now)) if revoke else self.engine.feed(Start(now))
        await self._apply(step, workdir)
        while not self.engine.phase.finished:
            event = await self._next_event(step.wake_at)
            if isinstance(event, BaseException):
                raise event  # an attempt's bookkeeping failed (a broken store, a bug): not the task's fault
            now = time.time()
            step = event(now) if event is not None else self.engine.feed(Tick(now))
            await self._apply(step, workdir)
        await asyncio.gather(*self._attempts)  # stopped attempts end within the grace period
        document = await self.document()
        await expire_after(self.store, self.uid, self.workflow.spec.ttl_seconds_after_finished)
        return document

    async def _next_event(self, wake_at: float | None) -> _Event | BaseException | None:
        """The next event, or None when `wake_at` comes first."""
        assert self._events is not None
        if wake_at is None:
            return await self._events.get()
        try:
            return await asyncio.wait_for(self._events.get(), max(0.0, wake_at - time.time()))
        except TimeoutError:
            return None

    def _post(self, event: _Event | BaseException) -> None:
        assert self._events is not None
        self._events.put_nowait(event)

    async def _apply(self, step: Step, workdir: Path) -> None:
        """Persist first, then act: the order that lets a restarted host resume."""
        await self.store.save_step(self.uid, self.engine, step.changed, step.new_nodes)
        for kill in step.kills:
            self._stop(kill)
        for launch in step.launches:
            attempt = asyncio.create_task(self._guarded(launch, workdir))
            self._attempts.add(attempt)
            attempt.add_done_callback(self._attempts.discard)
        if self.observer is not None:
            self.observer(self.engine, step)

    def _stop(self, kill: Kill) -> None:
        key = (kill.task_id, kill.attempt)
        self._stopped.add(key)
        process = self._processes.get(key)
        if process is not None and process.started and not process.stopping:
            stopping = asyncio.create_task(process.stop(self.kill_grace))
            self._attempts.add(stopping)
            stopping.add_done_callback(self._attempts.discard)

    # ------------------------------------------------------------------ one attempt

    async def _guarded(self, launch: Launch, workdir: Path) -> None:
        try:
            await self._attempt(launch, workdir)
        except Exception as error:  # noqa: BLE001 - handed to the loop, which raises it and stops the run
            self._post(error)

    async def _attempt(self, launch: Launch, workdir: Path) -> None:
        """Read the inputs, start the child, and report what became of it."""
        node, attempt = launch.node, launch.attempt
        key = (node.id, attempt)
        record = self.engine.records[node.id]
        if record.expires_at is not None and time.time() > record.expires_at:
            self._post(lambda now: self.engine.feed(Expired(node.id, attempt, now)))
            return
        results = await self.store.results(self.uid, needed_results(node))
        calls = await self.store.calls(self.uid) if is_errback_input(node) else {}
        inputs = task_inputs(self.engine, node, results, calls)
        if key in self._stopped:
            return  # revoked while its inputs were read
        env = child_environment(
            os.environ,
            task_id=node.id,
            attempt=attempt,
            workflow=self.name,
            code_dir=self.code_dir,
            options=node.options,
        )
        process = TaskProcess(workdir, node.id, attempt)
        self._processes[key] = process
        try:
            try:
                await process.start(inputs, env)
            except OSError as error:
                await self._report_lost(node.id, attempt, inputs, f": could not start it: {error}", None)
                return
            started = time.time()
            self._post(lambda _now: self.engine.feed(Started(node.id, attempt, started)))
            if key in self._stopped:  # revoked while it was being started
                await process.stop(self.kill_grace)
                return
            await self._outcome(process, inputs, attempt, started)
        finally:
            self._processes.pop(key, None)

    async def _outcome(self, process: TaskProcess, inputs: TaskInputs, attempt: int, started: float) -> None:
        """Wait for the child (killing it past `timeout` and the grace period) and feed the engine."""
        node = inputs.node
        timeout = node.options.get("timeout")
        limit = float(timeout) + self.kill_grace if isinstance(timeout, int | float) else None
        returncode = await process.wait(limit)
        if process.stopping or (node.id, attempt) in self._stopped:
            return  # revoked or expired meanwhile: the engine has moved on
        if returncode is None and isinstance(timeout, int | float):
            await process.stop(self.kill_grace)
            failure = time_limit_exceeded(float(timeout), self.kill_grace)
            outcome = Outcome("failed", error=failure, started_at=started, finished_at=time.time())
            await self.store.put_outcome(self.uid, node.id, attempt, outcome, call=expected_call(inputs))
            self._post(lambda now: self.engine.feed(Failed(node.id, attempt, failure, now)))
            return
        report = process.read_report()
        if isinstance(report, str):
            await self._report_lost(node.id, attempt, inputs, report, returncode)
            return
        await self.store.put_outcome(
            self.uid, node.id, attempt, report.outcome, value=report.value, call=report.call
        )
        self._post(lambda now: self.engine.feed(report.outcome.event(node.id, attempt, now)))

    async def _report_lost(
        self, task_id: str, attempt: int, inputs: TaskInputs, detail: str, returncode: int | None
    ) -> None:
        failure = worker_lost(returncode, detail)
        outcome = Outcome("failed", error=failure, finished_at=time.time())
        await self.store.put_outcome(self.uid, task_id, attempt, outcome, call=expected_call(inputs))
        self._post(lambda now: self.engine.feed(Failed(task_id, attempt, failure, now, lost=True)))


def run_workflow(workflow: Workflow, **options: Any) -> WorkflowDocument:
    """Run `workflow` to its end from synchronous code (see LocalRunner for `options`)."""
    return asyncio.run(LocalRunner(workflow, **options).run())
