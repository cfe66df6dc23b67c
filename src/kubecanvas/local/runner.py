"""Run a Workflow on this machine: the engine the operator uses, with child
processes instead of Jobs.

The loop is the operator's (`kubecanvas.hosting.WorkflowHost`: feed, persist, kill,
launch, wake); only the launcher differs. Each launch becomes a child process running
the real task runtime; what happens to it (started, its outcome, a crash, a timeout)
is fed back to the host as an event.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from kubecanvas.canvas.compiler import compile_spec
from kubecanvas.canvas.model import Workflow
from kubecanvas.engine.effects import Kill, Launch, Step
from kubecanvas.engine.events import Expired, Failed, Revoke, Start, Started
from kubecanvas.engine.machine import Engine
from kubecanvas.hosting import LoopAlarm, WorkflowHost
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
        self.uid = str(uuid.uuid4())  # as a Kubernetes uid: task ids are made from it
        self.graph = compile_spec(workflow.spec)
        self.engine = Engine(self.graph, parallelism=min(concurrency, workflow.spec.parallelism))
        self.store: ResultStore = store if store is not None else MemoryStore()
        self.code_dir = Path(code_dir).resolve() if code_dir is not None else None
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.kill_grace = kill_grace
        self.observer = observer
        self._workdir = Path(".")
        self._host: WorkflowHost | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._processes: dict[tuple[str, int], TaskProcess] = {}
        self._stopped: set[tuple[str, int]] = set()
        self._attempts: set[asyncio.Task[Any]] = set()
        self._revoke_requested = False

    # ------------------------------------------------------------------ API

    def revoke(self) -> None:
        """Cancel the workflow (Ctrl-C, tests). Safe from any thread, before or during `run`."""
        self._revoke_requested = True
        loop, host = self._loop, self._host
        if loop is None or host is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            host.spawn(host.feed(Revoke))
        else:
            loop.call_soon_threadsafe(lambda: host.spawn(host.feed(Revoke)))

    async def run(self) -> WorkflowDocument:
        """Run the workflow to its end and return its document."""
        self._loop = asyncio.get_running_loop()
        temporary = None if self.log_dir else tempfile.TemporaryDirectory(prefix="kubecanvas-")
        self._workdir = self.log_dir or Path(temporary.name if temporary else ".")
        self._workdir.mkdir(parents=True, exist_ok=True)
        try:
            return await self._run()
        finally:
            if self._host is not None:
                self._host.close()
            for process in self._processes.values():
                process.kill_now()  # only left when `run` is cancelled or crashed
            await asyncio.gather(*self._attempts, return_exceptions=True)
            if temporary is not None:
                temporary.cleanup()

    async def document(self) -> WorkflowDocument:
        """The workflow's document as it stands now."""
        results = await self.store.results(self.uid)
        calls = await self.store.calls(self.uid)
        return workflow_document(self.name, self.engine, results, calls, uid=self.uid)

    async def _run(self) -> WorkflowDocument:
        meta = WorkflowMeta(
            name=self.name, namespace="local", parallelism=self.engine.parallelism, created_at=time.time()
        )
        await self.store.create(self.uid, self.graph, meta)
        host = self._host = WorkflowHost(
            self.uid,
            self.engine,
            launcher=self,
            alarm=LoopAlarm(),
            store=self.store,
            after_step=self._observe,
            spawn=self._spawn,
        )
        revoke = self.workflow.spec.revoke or self._revoke_requested
        await host.feed(Revoke if revoke else Start)
        await host.wait()  # an attempt's bookkeeping that failed (a broken store, a bug) raises here
        await asyncio.gather(*self._attempts)  # stopped attempts end within the grace period
        document = await self.document()
        await expire_after(self.store, self.uid, self.workflow.spec.ttl_seconds_after_finished)
        return document

    async def _observe(self, host: WorkflowHost, step: Step) -> None:
        if self.observer is not None:
            self.observer(host.engine, step)

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self._attempts.add(task)
        task.add_done_callback(self._attempts.discard)
        task.add_done_callback(self._check)
        return task

    def _check(self, task: asyncio.Task[Any]) -> None:
        if self._host is not None and not task.cancelled() and (error := task.exception()) is not None:
            self._host.abort(error)

    # ------------------------------------------------------------------ the launcher

    def launch(self, host: WorkflowHost, launch: Launch) -> None:
        host.spawn(self._attempt(host, launch))

    def kill(self, host: WorkflowHost, kill: Kill) -> None:
        key = (kill.task_id, kill.attempt)
        self._stopped.add(key)
        process = self._processes.get(key)
        if process is not None and process.started and not process.stopping:
            host.spawn(process.stop(self.kill_grace))

    # ------------------------------------------------------------------ one attempt

    async def _attempt(self, host: WorkflowHost, launch: Launch) -> None:
        """Read the inputs, start the child, and report what became of it."""
        node, attempt = launch.node, launch.attempt
        key = (node.id, attempt)
        record = self.engine.records[node.id]
        if record.expires_at is not None and time.time() > record.expires_at:
            await host.feed(lambda now: Expired(node.id, attempt, now))
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
            workflow_uid=self.uid,
            imports=self.workflow.spec.imports,
            code_dir=self.code_dir,
            options=node.options,
        )
        process = TaskProcess(self._workdir, node.id, attempt)
        self._processes[key] = process
        try:
            try:
                await process.start(inputs, env)
            except OSError as error:
                await self._report_lost(
                    host, node.id, attempt, inputs, f": could not start it: {error}", returncode=None
                )
                return
            started = time.time()
            await host.feed(lambda _now: Started(node.id, attempt, started))
            if key in self._stopped:  # revoked while it was being started
                await process.stop(self.kill_grace)
                return
            await self._outcome(host, process, inputs, attempt, started)
        finally:
            self._processes.pop(key, None)

    async def _outcome(
        self, host: WorkflowHost, process: TaskProcess, inputs: TaskInputs, attempt: int, started: float
    ) -> None:
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
            await host.feed(lambda now: Failed(node.id, attempt, failure, now))
            return
        report = process.read_report()
        if isinstance(report, str):
            await self._report_lost(host, node.id, attempt, inputs, report, returncode=returncode)
            return
        await self.store.put_outcome(
            self.uid, node.id, attempt, report.outcome, value=report.value, call=report.call
        )
        await host.feed(lambda now: report.outcome.event(node.id, attempt, now))

    async def _report_lost(
        self,
        host: WorkflowHost,
        task_id: str,
        attempt: int,
        inputs: TaskInputs,
        detail: str,
        *,
        returncode: int | None,
    ) -> None:
        failure = worker_lost(returncode, detail)
        outcome = Outcome("failed", error=failure, finished_at=time.time())
        await self.store.put_outcome(self.uid, task_id, attempt, outcome, call=expected_call(inputs))
        await host.feed(lambda now: Failed(task_id, attempt, failure, now, lost=True))


def run_workflow(workflow: Workflow, **options: Any) -> WorkflowDocument:
    """Run `workflow` to its end from synchronous code (see LocalRunner for `options`)."""
    return asyncio.run(LocalRunner(workflow, **options).run())
