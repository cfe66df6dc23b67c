"""Celery's `.apply()`: run a whole canvas here, in this process, synchronously.

The same compiler, engine and host loop as `kubecanvas run` and the operator, and the
same `run_attempt` as the task runtime; only the launcher differs: attempts run one at
a time in this process, and delays (countdown, retries) are real waits. Tasks must be
importable here, as with Celery's eager mode.

The host runs on an event loop of its own (in a helper thread when the caller already
runs one: `.apply()` from async code or a notebook works as in Celery).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas._kits.wirevalues import from_wire
from kubecanvas.canvas.model import CANVAS_FORMS
from kubecanvas.check import checked_workflow
from kubecanvas.engine.effects import Kill, Launch
from kubecanvas.engine.events import Expired, Revoke, Start, Started
from kubecanvas.engine.machine import Engine
from kubecanvas.engine.states import Phase, TaskFailure
from kubecanvas.errors import InvalidWorkflow, Problem, TaskRevokedError
from kubecanvas.execution.attempt import run_attempt
from kubecanvas.graph.identity import given_task_id
from kubecanvas.graph.nodes import ListRef, NodeRef, Ref, TaskNode
from kubecanvas.hosting import LoopAlarm, WorkflowHost
from kubecanvas.local.attempts import child_environment, task_inputs
from kubecanvas.report.document import WorkflowDocument, workflow_document
from kubecanvas.report.exceptions import rebuild_exception
from kubecanvas.resources import API_VERSION

__all__ = ["EagerResult", "run_eagerly", "run_to_end"]

_STATES = {Phase.SUCCEEDED: "SUCCESS", Phase.FAILED: "FAILURE", Phase.REVOKED: "REVOKED"}


@dataclass(frozen=True, slots=True)
class EagerResult:
    """A finished eager (or local) run, shaped like Celery's `EagerResult`; for a group, also
    like its `GroupResult` (`results`, `join`, `completed_count`, iteration), each member an
    EagerResult of its own task (`id` the task's own, its `self.request.id`)."""

    final_document: WorkflowDocument  # the finished run's document, as `document()` returns it
    failure: TaskFailure | None  # the root cause, with what it takes to rebuild the exception
    started_at: float | None = None  # epoch seconds, when the workflow started
    finished_at: float | None = None
    ref: Ref | None = None  # what this is the result of: the workflow's result, or a part of it
    failures: Mapping[str, TaskFailure] = field(default_factory=dict)  # every failed task's
    top: bool = True  # the whole workflow (its phase decides), not one of its parts
    given_ids: frozenset[str] = frozenset()  # graph ids of the tasks given an id (`task_id=`)

    @classmethod
    def of(cls, document: WorkflowDocument, engine: Engine) -> EagerResult:
        """The result of a finished run: its document, and the root cause from its engine."""
        error = engine.error()
        failure = engine.records[error.task_id].error if error is not None else None
        failures = {task_id: record.error for task_id, record in engine.records.items() if record.error}
        given = frozenset(node.id for node in engine.graph.nodes if given_task_id(node))
        return cls(
            document,
            failure,
            engine.started_at,
            engine.finished_at,
            engine.graph.result,
            failures,
            given_ids=given,
        )

    def __repr__(self) -> str:
        return f"<EagerResult {self.id} {self.state}>"

    def document(self) -> WorkflowDocument:
        """The workflow's document, as `kubecanvas run -o json` prints it (and as the cluster's
        `AsyncResult.document()` answers)."""
        return self.final_document

    @property
    def id(self) -> str:
        if isinstance(self.ref, NodeRef) and (not self.top or self.ref.node in self.given_ids):
            return str(self._task(self.ref.node)["uuid"])  # the task's own id
        return self.final_document["name"]

    @property
    def task_id(self) -> str:
        """Celery's other name for `id`."""
        return self.id

    @property
    def state(self) -> str:
        """SUCCESS, FAILURE or REVOKED (Celery's names)."""
        if self.top:
            return _STATES.get(Phase(self.final_document["phase"]), "PENDING")
        if isinstance(self.ref, NodeRef):
            return str(self._task(self.ref.node)["state"])
        states = {part.state for part in self.results}
        return next((state for state in ("FAILURE", "REVOKED", "PENDING") if state in states), "SUCCESS")

    @property
    def status(self) -> str:
        return self.state

    @property
    def result(self) -> Any:
        """The value on success, else the exception `get()` would raise (as Celery)."""
        return self.get(propagate=False)

    @property
    def traceback(self) -> str | None:
        failure = self._failure()
        return failure.traceback if failure is not None else None

    @property
    def results(self) -> list[EagerResult]:
        """A group's members, in order (nested groups nest); none for one task's result."""
        if not isinstance(self.ref, ListRef):
            return []
        return [replace(self, ref=item, top=False) for item in self.ref.items]

    @property
    def children(self) -> list[EagerResult]:
        return self.results

    def __iter__(self) -> Iterator[EagerResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def get(self, propagate: bool = True, **_ignored: Any) -> Any:
        """The value; raises the failure's exception unless `propagate=False` (then returns it).

        Celery's timeout/interval arguments are accepted and ignored: the run is over."""
        if self.successful():
            if self.top:
                return from_wire(self.final_document["result"])
            if isinstance(self.ref, NodeRef):
                return from_wire(self._task(self.ref.node)["result"])
            return [part.get() for part in self.results]
        error = self._exception()
        if propagate:
            raise error
        return error

    def join(self, propagate: bool = True, **_ignored: Any) -> list[Any]:
        """Every member's value, in order (Celery's `GroupResult.join`)."""
        return [part.get(propagate=propagate) for part in self.results]

    def completed_count(self) -> int:
        return sum(part.successful() for part in self.results)

    def waiting(self) -> bool:
        return False

    def ready(self) -> bool:
        return True

    def successful(self) -> bool:
        return self.state == "SUCCESS"

    def failed(self) -> bool:
        return self.state == "FAILURE"

    def _task(self, task_id: str) -> Mapping[str, Any]:
        return next(task for task in self.final_document["tasks"] if task["id"] == task_id)

    def _failure(self) -> TaskFailure | None:
        if self.top:
            return self.failure
        if isinstance(self.ref, NodeRef):
            return self.failures.get(self.ref.node)
        return next((part._failure() for part in self.results if part.failed()), None)

    def _exception(self) -> Exception:
        failure = self._failure()
        if failure is not None:
            return rebuild_exception(failure)
        return TaskRevokedError(f"{self.id} was revoked")


def run_eagerly(
    canvas: Mapping[str, Any], args: Any = None, kwargs: Mapping[str, Any] | None = None
) -> EagerResult:
    """Run a canvas mapping (`{"chain": [...]}`) or a whole Workflow manifest here.

    `args` are prepended to the manifest's `spec.args` and `kwargs` merged over its
    `spec.kwargs` (call-time arguments, contract 3.1 and 3.2). Invalid input raises
    InvalidWorkflow with field paths; a failed task does not raise until `get()`."""
    checked = checked_workflow(_manifest(canvas, args, kwargs))
    workflow = checked.workflow
    engine = Engine(checked.graph, parallelism=1)
    name = workflow.metadata.name or "eager"
    runner = _EagerRunner(engine, name, workflow.spec.imports)
    run_to_end(runner.run(revoke=workflow.spec.revoke))
    return EagerResult.of(
        workflow_document(name, engine, runner.results, runner.calls, uid=runner.uid), engine
    )


def _manifest(canvas: Mapping[str, Any], args: Any, kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    if not isinstance(canvas, Mapping):
        raise InvalidWorkflow(
            [Problem("", f"expected a canvas or a Workflow mapping, not {type(canvas).__name__}")]
        )
    if any(form in canvas for form in CANVAS_FORMS):
        manifest: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "Workflow",
            "metadata": {"name": "eager"},
            "spec": {"canvas": dict(canvas)},
        }
    else:
        manifest = dict(canvas)
        manifest["spec"] = dict(manifest.get("spec") or {})
    spec = manifest["spec"]
    if args:
        if isinstance(args, str | bytes) or not hasattr(args, "__iter__"):
            raise InvalidWorkflow([Problem("args", f"must be a list of arguments, not {args!r}")])
        spec["args"] = [*args, *(spec.get("args") or [])]
    if kwargs:
        spec["kwargs"] = {**(spec.get("kwargs") or {}), **kwargs}
    return manifest


def run_to_end(coroutine: Any) -> None:
    """Run `coroutine` to its end from synchronous code, even under a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="kubecanvas-eager") as thread:
        thread.submit(asyncio.run, coroutine).result()


class _EagerRunner:
    """The launcher of eager mode: attempts run one at a time, in launch order, here."""

    def __init__(self, engine: Engine, name: str, imports: Iterable[str] = ()) -> None:
        self.engine = engine
        self.name = name
        self.imports = tuple(imports)
        self.uid = str(uuid.uuid4())  # what a cluster run's task ids are made from
        self.results: dict[str, JSON] = {}
        self.calls: dict[str, JSONObject] = {}
        self._launches: deque[Launch] = deque()
        self._running: asyncio.Task[None] | None = None

    async def run(self, *, revoke: bool) -> None:
        host = WorkflowHost(self.name, self.engine, launcher=self, alarm=LoopAlarm())
        await host.feed(Revoke if revoke else Start)
        await host.wait()

    def launch(self, host: WorkflowHost, launch: Launch) -> None:
        self._launches.append(launch)
        if self._running is None or self._running.done():
            self._running = host.spawn(self._drain(host))

    def kill(self, host: WorkflowHost, kill: Kill) -> None:
        """Nothing runs while the engine decides: a killed attempt is one not yet started."""

    async def _drain(self, host: WorkflowHost) -> None:
        while self._launches:
            await self._attempt(host, self._launches.popleft())

    async def _attempt(self, host: WorkflowHost, launch: Launch) -> None:
        node, attempt = launch.node, launch.attempt
        record = self.engine.records[node.id]
        if record.terminal or not record.launched or record.attempt != attempt:
            return  # killed before it ran
        if record.expires_at is not None and time.time() > record.expires_at:
            await host.feed(lambda now: Expired(node.id, attempt, now))
            return
        await host.feed(lambda now: Started(node.id, attempt, now))
        inputs = task_inputs(self.engine, node, self.results, self.calls)
        with _task_environment(node, attempt, self.name, self.uid):
            execution = run_attempt(inputs, attempt, self.name, workflow_uid=self.uid, imports=self.imports)
        self.calls[node.id] = {"args": execution.args, "kwargs": execution.kwargs}
        if execution.succeeded:
            self.results.setdefault(node.id, execution.value)
        await host.feed(lambda now: execution.outcome.event(node.id, attempt, now))


@contextmanager
def _task_environment(node: TaskNode, attempt: int, workflow: str, workflow_uid: str) -> Iterator[None]:
    """The variables a task sees in its pod or child process (its identity, its `env`
    option), set for the duration of one attempt and then restored."""
    values = child_environment(
        {},
        task_id=node.id,
        attempt=attempt,
        workflow=workflow,
        workflow_uid=workflow_uid,
        code_dir=None,
        options=node.options,
    )
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
