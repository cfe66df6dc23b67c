"""Celery's `AsyncResult` and `GroupResult` for Workflows on a cluster, backed by Redis.

    res = (add.s(2, 2) | mul.s(10)).apply_async(namespace="team-a", code=CODE)
    res.get(timeout=60)        # 40, or raises the root cause (its class when importable)
    res.parent.get()           # 4: the result of the task before the last one

`submit` creates the Workflow and returns an `AsyncResult` for it (a `GroupResult` when
its value is a list of results: a group, chunks). Its `id` is the Workflow's name; the
result of one task is `AsyncResult("<workflow>/<task id>")`. Results read the per-task
state from Redis (`KUBECANVAS_REDIS_URL`, `configure(redis_url=...)` or `redis_url=`),
and `get()` waits on Redis notifications (`kubecanvas.client.notifications`), never by
polling the API server.

What "ready" means: the value of a whole workflow is ready when every task it is made
of succeeded (a `link` callback may still be running), or when the workflow finished;
the value of one task when the task finished. `get()` of a failed workflow raises the
root cause (`status.error`), as Celery's `res.get()` does; `get()` of one task raises
that task's own error (a `ChordError` for a chord body, a `TaskRevokedError` for a task
that never ran).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from kubecanvas._kits.jsonvalues import JSON
from kubecanvas.client.settings import REDIS_URL_ENV, ClientSettings, resolve
from kubecanvas.engine.states import Phase, TaskFailure, TaskRecord, TaskState
from kubecanvas.errors import (
    ConfigurationError,
    ResultError,
    ResultExpiredError,
    ResultTimeoutError,
    StoreError,
    TaskRevokedError,
)
from kubecanvas.graph.nodes import Graph, ListRef, NodeRef, Ref, ref_node_ids

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from kubecanvas.client.cluster import WorkflowApi
    from kubecanvas.report.document import WorkflowDocument
    from kubecanvas.store.hostside import WorkflowStore

__all__ = [
    "READY_STATES",
    "AsyncResult",
    "GroupResult",
    "result_for",
    "submit",
]

T = TypeVar("T")

READY_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})
_FINISHED_STATES = {Phase.SUCCEEDED: "SUCCESS", Phase.FAILED: "FAILURE", Phase.REVOKED: "REVOKED"}


# ====================================================================== submitting


def submit(
    manifest: Mapping[str, Any],
    *,
    namespace: str | None = None,
    redis_url: str | None = None,
    kubeconfig: str | None = None,
) -> AsyncResult | GroupResult:
    """Create the Workflow `manifest` on the cluster; its result to wait on.

    The namespace is `namespace`, else the manifest's, else `configure(namespace=)`,
    else the kubeconfig context's; a manifest without `spec.code` gets
    `configure(code=)`'s. The manifest is validated here first (InvalidWorkflow, with
    field paths). Creating needs only the Kubernetes API; reading the result needs Redis."""
    from kubecanvas.check import checked_workflow
    from kubecanvas.client.cluster import WorkflowApi, default_namespace

    settings = resolve(redis_url=redis_url, kubeconfig=kubeconfig)
    metadata = dict(manifest.get("metadata") or {})
    target = namespace or metadata.get("namespace") or settings.namespace
    api = WorkflowApi(settings.kubeconfig)
    target = target or default_namespace()
    body_manifest = {**manifest, "metadata": {**metadata, "namespace": target}}
    spec = dict(manifest.get("spec") or {})
    if settings.code is not None and not spec.get("code"):
        body_manifest["spec"] = {**spec, "code": dict(settings.code)}
    graph = checked_workflow(body_manifest).graph
    body = api.create(target, dict(body_manifest))
    return result_for(_Workflow.from_body(body, settings, api, graph))


def result_for(workflow: _Workflow) -> AsyncResult | GroupResult:
    """The result of a whole workflow: a GroupResult when its value is a list of results."""
    ref = workflow.graph.result
    if isinstance(ref, ListRef):
        return GroupResult(workflow.name, _workflow=workflow, _ref=ref, _top=True)
    return AsyncResult(workflow.name, _workflow=workflow, _ref=ref, _top=True)


# ====================================================================== one workflow


@dataclass(slots=True)
class _View:
    """What the results of one workflow are computed from, read in one go."""

    phase: Phase | None  # None: Redis has no state for it (not started yet, or expired)
    records: dict[str, TaskRecord]
    status: Mapping[str, Any] = field(default_factory=dict)  # the Workflow's status, when phase is None


class _Workflow:
    """One Workflow on the cluster, shared by every result that belongs to it."""

    def __init__(
        self,
        name: str,
        namespace: str,
        settings: ClientSettings,
        *,
        api: WorkflowApi | None = None,
        uid: str | None = None,
        graph: Graph | None = None,
    ) -> None:
        self.name, self.namespace, self.settings = name, namespace, settings
        self._api, self._uid, self._graph = api, uid, graph
        self._lock = threading.Lock()

    @classmethod
    def from_body(
        cls, body: Mapping[str, Any], settings: ClientSettings, api: WorkflowApi, graph: Graph | None = None
    ) -> _Workflow:
        metadata = body["metadata"]
        workflow = cls(
            metadata["name"], metadata["namespace"], settings, api=api, uid=metadata["uid"], graph=graph
        )
        if graph is None:
            workflow._graph = _compile(body)
        return workflow

    # -- Kubernetes

    @property
    def api(self) -> WorkflowApi:
        with self._lock:
            if self._api is None:
                from kubecanvas.client.cluster import WorkflowApi

                self._api = WorkflowApi(self.settings.kubeconfig)
            return self._api

    def body(self) -> dict[str, Any]:
        return self.api.get(self.namespace, self.name)

    @property
    def uid(self) -> str:
        if self._uid is None:
            body = self.body()
            self._uid = str(body["metadata"]["uid"])
            if self._graph is None:
                self._graph = _compile(body)
        return self._uid

    @property
    def graph(self) -> Graph:
        """The compiled canvas (the same ids as the operator's: compiling is deterministic)."""
        if self._graph is None:
            body = self.body()
            self._uid = str(body["metadata"]["uid"])
            self._graph = _compile(body)
        return self._graph

    @property
    def qualified(self) -> str:
        return f"{self.namespace}/{self.name}"

    def revoke(self) -> None:
        self.api.patch(self.namespace, self.name, {"spec": {"revoke": True}})

    # -- Redis

    def read(self, work: Callable[[WorkflowStore], Awaitable[T]]) -> T:
        """Run `work` against the store, on a fresh connection, from synchronous code."""
        url = self.settings.redis_url
        if not url:
            raise ConfigurationError(
                "reading results needs Redis: set "
                f"{REDIS_URL_ENV}, or call kubecanvas.client.configure(redis_url=...)"
            )
        password, stream = self.settings.redis_password, self.settings.events_stream
        _ = self.uid  # resolved here, not from inside the event loop

        async def main() -> T:
            from redis import RedisError

            from kubecanvas.store.hostside import WorkflowStore, connect_async

            client: aioredis.Redis = connect_async(url, password)
            try:
                return await work(WorkflowStore(client, stream))
            except ResultTimeoutError:
                raise
            except (RedisError, OSError) as error:
                raise StoreError(f"cannot read workflow {self.qualified} from Redis: {error}") from None
            finally:
                await client.aclose()

        return _run_sync(main)

    async def view(self, store: WorkflowStore, node_ids: list[str]) -> _View:
        phase, records = await store.view(self.uid, node_ids)
        if phase is None:
            body = await asyncio.to_thread(self.body)
            return _View(None, {}, body.get("status") or {})
        return _View(phase, records)

    async def wait(
        self, store: WorkflowStore, node_ids: list[str], done: Callable[[_View], bool], timeout: float | None
    ) -> _View:
        """The first view for which `done` is true; ResultTimeoutError after `timeout` seconds."""
        from kubecanvas.client.notifications import NewsWaiter

        deadline = math.inf if timeout is None else time.monotonic() + timeout
        url, password = self.settings.redis_url, self.settings.redis_password
        assert url is not None  # read() checked

        def connect() -> aioredis.Redis:
            from kubecanvas.store.hostside import connect_async

            return connect_async(url, password)

        async with NewsWaiter(connect, store.events_stream, self.uid) as news:
            while True:
                view = await self.view(store, node_ids)
                if done(view):
                    return view
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ResultTimeoutError(
                        f"workflow {self.qualified}: the operation timed out ({timeout}s)"
                    )
                await news.wait(min(remaining, 3600.0))


def _compile(body: Mapping[str, Any]) -> Graph:
    from kubecanvas.check import checked_spec

    return checked_spec(body.get("spec")).graph


def _loads(text: str) -> Any:
    from kubecanvas._kits.jsonvalues import loads

    return loads(text)


def _run_sync(main: Callable[[], Awaitable[T]]) -> T:
    """`asyncio.run(main())`, in a helper thread when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_as_coroutine(main))
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(_as_coroutine(main))
        except BaseException as error:  # noqa: BLE001 - handed back to the caller's thread
            box["error"] = error

    worker = threading.Thread(target=target, name="kubecanvas-result", daemon=True)
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return cast(T, box["value"])


async def _as_coroutine(main: Callable[[], Awaitable[T]]) -> T:
    return await main()


# ====================================================================== results


class _Result:
    """What AsyncResult and GroupResult share: one reference to results of one workflow."""

    _ref: Ref
    _top: bool

    def __init__(
        self,
        id: str,  # Celery's name
        namespace: str | None = None,
        *,
        redis_url: str | None = None,
        kubeconfig: str | None = None,
        _workflow: _Workflow | None = None,
        _ref: Ref | None = None,
        _top: bool | None = None,
    ) -> None:
        name, _, task_id = id.partition("/")
        if _workflow is None:
            from kubecanvas.client.cluster import default_namespace

            settings = resolve(redis_url=redis_url, kubeconfig=kubeconfig)
            _workflow = _Workflow(name, namespace or settings.namespace or default_namespace(), settings)
        self._workflow = _workflow
        self.task_id: str | None = task_id or None
        if _ref is None:
            _ref = NodeRef(task_id) if task_id else _workflow.graph.result
        self._ref = _ref
        self._top = (not task_id) if _top is None else _top

    # -- identity

    @property
    def id(self) -> str:
        """The workflow's name, or `<workflow>/<task id>` for the result of one task."""
        return f"{self._workflow.name}/{self.task_id}" if self.task_id else self._workflow.name

    @property
    def name(self) -> str:
        """The Workflow's name."""
        return self._workflow.name

    @property
    def namespace(self) -> str:
        return self._workflow.namespace

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self._workflow.namespace}/{self.id}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Result):
            return NotImplemented
        return (type(self), self.namespace, self.id, self._ref) == (
            type(other),
            other.namespace,
            other.id,
            other._ref,
        )

    def __hash__(self) -> int:
        return hash((type(self), self.namespace, self.id))

    # -- state

    @property
    def state(self) -> str:
        """PENDING, STARTED, RETRY, SUCCESS, FAILURE or REVOKED (Celery's states)."""
        return _state(self._read_view(), self._ref, self._top)

    @property
    def status(self) -> str:
        return self.state

    def ready(self) -> bool:
        return self.state in READY_STATES

    def successful(self) -> bool:
        return self.state == "SUCCESS"

    def failed(self) -> bool:
        return self.state == "FAILURE"

    @property
    def result(self) -> Any:
        """The value once it succeeded, the exception once it failed, else None (as Celery)."""
        return self._outcome(self._read_view(), propagate=False, missing=None)

    @property
    def traceback(self) -> str | None:
        """The traceback text of the failure behind this result, if any."""
        view = self._read_view()
        if _state(view, self._ref, self._top) not in ("FAILURE", "REVOKED"):
            return None
        failure = self._workflow.read(lambda store: self._failure(store, view))
        return failure.traceback if failure is not None else None

    def get(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float | None = None,
        **_celery: Any,
    ) -> Any:
        """Wait until ready, then the value; raises the failure's exception unless
        `propagate=False` (then returns it). `ResultTimeoutError` after `timeout` seconds.
        `interval` is accepted for Celery's sake: waiting uses Redis notifications."""
        del interval
        ids = self._watched_ids()
        view = self._workflow.read(
            lambda store: self._workflow.wait(
                store, ids, lambda view: _state(view, self._ref, self._top) in READY_STATES, timeout
            )
        )
        return self._outcome(view, propagate=propagate, missing=None)

    wait = get

    def revoke(self, **_celery: Any) -> None:
        """Revoke the whole workflow (`spec.revoke: true`): a Workflow is cancelled as one."""
        self._workflow.revoke()

    def document(self) -> WorkflowDocument:
        """The workflow's document, as `kubecanvas get -o json` prints it."""
        from kubecanvas.client.documents import document_of

        body = self._workflow.body()
        return self._workflow.read(lambda store: document_of(body, store))

    # -- family

    @property
    def parent(self) -> AsyncResult | GroupResult | None:
        """The result this one was computed from: the previous task of a chain, the header
        of a chord (a GroupResult); None for a first task."""
        if not isinstance(self._ref, NodeRef):
            return None
        node = self._node(self._ref.node)
        if node is None or not node.deps:
            return None
        if len(node.deps) == 1:
            return self._task_result(node.deps[0])
        return GroupResult(
            self._workflow.name,
            _workflow=self._workflow,
            _ref=ListRef(tuple(NodeRef(dep) for dep in node.deps)),
            _top=False,
        )

    @property
    def children(self) -> list[AsyncResult | GroupResult]:
        """The results computed from this one: the next task of a chain, `link` callbacks,
        a group's members."""
        if not isinstance(self._ref, NodeRef):
            return []
        node_id = self._ref.node
        return [self._task_result(node.id) for node in self._workflow.graph.nodes if node_id in node.deps]

    # -- internals

    def _task_result(self, node_id: str) -> AsyncResult:
        return AsyncResult(
            f"{self._workflow.name}/{node_id}", _workflow=self._workflow, _ref=NodeRef(node_id), _top=False
        )

    def _node(self, node_id: str) -> Any:
        return next((node for node in self._workflow.graph.nodes if node.id == node_id), None)

    def _watched_ids(self) -> list[str]:
        return list(dict.fromkeys(ref_node_ids(self._ref)))

    def _read_view(self) -> _View:
        ids = self._watched_ids()
        return self._workflow.read(lambda store: self._workflow.view(store, ids))

    def _outcome(self, view: _View, *, propagate: bool, missing: Any) -> Any:
        state = _state(view, self._ref, self._top)
        if state == "SUCCESS":
            return self._workflow.read(lambda store: self._value(store, view))
        if state not in READY_STATES:
            return missing
        failure = self._workflow.read(lambda store: self._failure(store, view))
        error = _exception(failure, self._workflow.name)
        if propagate:
            raise error
        return error

    async def _value(self, store: WorkflowStore, view: _View) -> JSON:
        from kubecanvas.graph.arguments import MissingResult, materialize

        if view.phase is None:
            return cast(JSON, view.status.get("result"))
        ids = self._watched_ids()
        results = await store.results(self._workflow.uid, ids)
        try:
            return materialize(self._ref, results)
        except MissingResult as error:
            raise ResultError(f"workflow {self._workflow.qualified}: a result is missing: {error}") from None

    async def _failure(self, store: WorkflowStore, view: _View) -> TaskFailure | None:
        """The failure to raise: the root cause of a whole workflow, a task's own error."""
        if view.phase is None:
            error = view.status.get("error")
            if isinstance(error, Mapping):
                return TaskFailure(str(error.get("type") or "Error"), str(error.get("message") or ""))
            return None
        if self._top:
            persisted = await store.load(self._workflow.uid)
            if persisted is None:
                return None
            engine = persisted.engine()
            root = engine.error()
            if root is None:
                return None
            return engine.records[root.task_id].error or TaskFailure(root.type, root.message)
        for node_id in self._watched_ids():
            record = view.records.get(node_id)
            if record is not None and record.unsuccessful:
                return record.error
        return None


def _state(view: _View, ref: Ref, top: bool) -> str:
    if view.phase is None:
        phase = view.status.get("phase")
        finished = {"Succeeded": "SUCCESS", "Failed": "FAILURE", "Revoked": "REVOKED"}
        if phase in finished:
            if top:
                return finished[str(phase)]
            raise ResultExpiredError(
                "the task states of this workflow are no longer in Redis "
                "(they expire after spec.ttlSecondsAfterFinished)"
            )
        return "PENDING"
    records = [view.records.get(node_id) or TaskRecord() for node_id in ref_node_ids(ref)]
    if all(record.state == TaskState.SUCCESS for record in records):
        return "SUCCESS"
    if top and view.phase.finished:
        return _FINISHED_STATES[view.phase]
    if not top and all(record.terminal for record in records):
        first = next(record for record in records if record.unsuccessful)
        return first.state.value
    states = {record.state for record in records}
    for state in (TaskState.STARTED, TaskState.RETRY):
        if state in states:
            return state.value
    return "PENDING"


def _exception(failure: TaskFailure | None, name: str) -> Exception:
    if failure is None:
        return TaskRevokedError(f"workflow {name} was revoked")
    from kubecanvas.report.exceptions import rebuild_exception

    return rebuild_exception(failure)


class AsyncResult(_Result):
    """The result of a workflow (`id` = its name) or of one of its tasks (`<name>/<task id>`)."""

    def __init__(
        self,
        id: str,  # Celery's name
        namespace: str | None = None,
        *,
        redis_url: str | None = None,
        kubeconfig: str | None = None,
        _workflow: _Workflow | None = None,
        _ref: Ref | None = None,
        _top: bool | None = None,
    ) -> None:
        super().__init__(
            id,
            namespace,
            redis_url=redis_url,
            kubeconfig=kubeconfig,
            _workflow=_workflow,
            _ref=_ref,
            _top=_top,
        )


class GroupResult(_Result):
    """The results of a group's members, in the group's order (nested groups nest)."""

    def __init__(
        self,
        id: str,  # Celery's name
        namespace: str | None = None,
        *,
        redis_url: str | None = None,
        kubeconfig: str | None = None,
        _workflow: _Workflow | None = None,
        _ref: Ref | None = None,
        _top: bool | None = None,
    ) -> None:
        super().__init__(
            id,
            namespace,
            redis_url=redis_url,
            kubeconfig=kubeconfig,
            _workflow=_workflow,
            _ref=_ref,
            _top=_top,
        )
        if not isinstance(self._ref, ListRef):
            raise ResultError(f"{self.id} is not the result of a group: use AsyncResult")

    @property
    def results(self) -> list[AsyncResult | GroupResult]:
        members: list[AsyncResult | GroupResult] = []
        assert isinstance(self._ref, ListRef)
        for item in self._ref.items:
            if isinstance(item, NodeRef):
                members.append(self._task_result(item.node))
            else:
                members.append(
                    GroupResult(self._workflow.name, _workflow=self._workflow, _ref=item, _top=False)
                )
        return members

    @property
    def children(self) -> list[AsyncResult | GroupResult]:
        return self.results

    def __len__(self) -> int:
        assert isinstance(self._ref, ListRef)
        return len(self._ref.items)

    def __iter__(self) -> Iterator[AsyncResult | GroupResult]:
        return iter(self.results)

    def __getitem__(self, index: int) -> AsyncResult | GroupResult:
        return self.results[index]

    def completed_count(self) -> int:
        """How many members succeeded."""
        view = self._read_view()
        return sum(_state(view, member._ref, False) == "SUCCESS" for member in self.results)

    def waiting(self) -> bool:
        """Whether some member has not finished yet."""
        view = self._read_view()
        return any(_state(view, member._ref, False) not in READY_STATES for member in self.results)

    def ready(self) -> bool:
        return not self.waiting()

    def successful(self) -> bool:
        view = self._read_view()
        return all(_state(view, member._ref, False) == "SUCCESS" for member in self.results)

    def failed(self) -> bool:
        view = self._read_view()
        return any(_state(view, member._ref, False) == "FAILURE" for member in self.results)

    def join(self, timeout: float | None = None, propagate: bool = True, **_celery: Any) -> list[Any]:
        """Every member's value, in order, once all have finished. With `propagate`,
        raises the first failed member's exception; without, it takes that member's place."""
        members = self.results
        ids = self._watched_ids()
        view = self._workflow.read(
            lambda store: self._workflow.wait(
                store,
                ids,
                lambda view: all(_state(view, member._ref, False) in READY_STATES for member in members),
                timeout,
            )
        )
        return [member._outcome(view, propagate=propagate, missing=None) for member in members]
