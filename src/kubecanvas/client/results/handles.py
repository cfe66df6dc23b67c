"""The result objects users hold: Celery's `AsyncResult` and `GroupResult`.

    res = (add.s(2, 2) | mul.s(10)).apply_async(namespace="team-a", code=CODE)
    res.get(timeout=60)        # 40, or raises the root cause (its class when loaded here)
    res.parent.get()           # 4: the result of the task before the last one

A result's `id` is the Workflow's name; the result of one task has the task's own id (its
`self.request.id`, a UUID unique to this run), and `AsyncResult(<that id>)` finds it again
(`AsyncResult("<workflow>/<graph id>")`, e.g. `"wf-x2k/t0"`, does too). `get()` of a
failed workflow raises the root cause (`status.error`), as Celery's `res.get()` does;
`get()` of one task raises that task's own error (a `ChordError` for a chord body, a
`TaskRevokedError` for a task that never ran).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

from kubecanvas._kits.jsonvalues import JSON
from kubecanvas._kits.wirevalues import from_wire
from kubecanvas.client.results.states import READY_STATES, View, celery_state
from kubecanvas.client.results.workflow import RemoteWorkflow
from kubecanvas.client.settings import resolve
from kubecanvas.engine.states import TaskFailure
from kubecanvas.errors import ResultError, TaskRevokedError
from kubecanvas.graph.nodes import ListRef, NodeRef, Ref, ref_node_ids

if TYPE_CHECKING:
    from kubecanvas.report.document import WorkflowDocument
    from kubecanvas.store.hostside import WorkflowStore

__all__ = ["AsyncResult", "GroupResult"]


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
        _workflow: RemoteWorkflow | None = None,
        _ref: Ref | None = None,
        _top: bool | None = None,
    ) -> None:
        name, _, task_id = id.partition("/")
        if _workflow is None:
            from kubecanvas.client.cluster import default_namespace

            settings = resolve(redis_url=redis_url, kubeconfig=kubeconfig)
            where = namespace or settings.namespace or default_namespace()
            found = None if task_id else RemoteWorkflow.of_task(name, where, settings)
            if found is not None:  # a task's own id
                _workflow, task_id = found
            else:
                _workflow = RemoteWorkflow(name, where, settings)
        self._workflow = _workflow
        self._node_id: str | None = task_id or None  # the task's graph id (`t0`), for one task's result
        if _ref is None:
            _ref = NodeRef(task_id) if task_id else _workflow.graph.result
        self._ref = _ref
        self._top = (not task_id) if _top is None else _top

    # -- identity

    @property
    def id(self) -> str:
        """The workflow's name, or the task's own id for the result of one task (and for the
        whole workflow's when its result is a task given its id, as with Celery's `task_id=`)."""
        if self._node_id:
            return self._workflow.task_id(self._node_id)
        if isinstance(self._ref, NodeRef) and self._workflow.given_id(self._ref.node):
            return self._workflow.task_id(self._ref.node)
        return self._workflow.name

    @property
    def task_id(self) -> str:
        """Celery's other name for `id`."""
        return self.id

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
        return celery_state(self._read_view(), self._ref, self._top)

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
        if celery_state(view, self._ref, self._top) not in ("FAILURE", "REVOKED"):
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
                store, ids, lambda view: celery_state(view, self._ref, self._top) in READY_STATES, timeout
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

    def _read_view(self) -> View:
        ids = self._watched_ids()
        return self._workflow.read(lambda store: self._workflow.view(store, ids))

    def _outcome(self, view: View, *, propagate: bool, missing: Any) -> Any:
        state = celery_state(view, self._ref, self._top)
        if state == "SUCCESS":
            return from_wire(self._workflow.read(lambda store: self._value(store, view)))
        if state not in READY_STATES:
            return missing
        failure = self._workflow.read(lambda store: self._failure(store, view))
        error = exception_of(failure, self._workflow.name)
        if propagate:
            raise error
        return error

    async def _value(self, store: WorkflowStore, view: View) -> JSON:
        from kubecanvas.graph.arguments import MissingResult, materialize

        if view.phase is None:
            return cast(JSON, view.status.get("result"))
        ids = self._watched_ids()
        results = await store.results(self._workflow.uid, ids)
        try:
            return materialize(self._ref, results)
        except MissingResult as error:
            raise ResultError(f"workflow {self._workflow.qualified}: a result is missing: {error}") from None

    async def _failure(self, store: WorkflowStore, view: View) -> TaskFailure | None:
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


def exception_of(failure: TaskFailure | None, name: str) -> Exception:
    if failure is None:
        return TaskRevokedError(f"workflow {name} was revoked")
    from kubecanvas.report.exceptions import rebuild_exception

    return rebuild_exception(failure)


class AsyncResult(_Result):
    """The result of a workflow (`id` = its name) or of one of its tasks (`id` = the task's own).

    `AsyncResult(id, namespace)` takes either, or `<workflow>/<graph id>` (`wf-x2k/t0`)."""


class GroupResult(_Result):
    """The results of a group's members, in the group's order (nested groups nest)."""

    def __init__(
        self,
        id: str,  # Celery's name
        namespace: str | None = None,
        *,
        redis_url: str | None = None,
        kubeconfig: str | None = None,
        _workflow: RemoteWorkflow | None = None,
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
        return sum(celery_state(view, member._ref, False) == "SUCCESS" for member in self.results)

    def waiting(self) -> bool:
        """Whether some member has not finished yet."""
        view = self._read_view()
        return any(celery_state(view, member._ref, False) not in READY_STATES for member in self.results)

    def ready(self) -> bool:
        return not self.waiting()

    def successful(self) -> bool:
        view = self._read_view()
        return all(celery_state(view, member._ref, False) == "SUCCESS" for member in self.results)

    def failed(self) -> bool:
        view = self._read_view()
        return any(celery_state(view, member._ref, False) == "FAILURE" for member in self.results)

    def join(self, timeout: float | None = None, propagate: bool = True, **_celery: Any) -> list[Any]:
        """Every member's value, in order, once all have finished. With `propagate`,
        raises the first failed member's exception; without, it takes that member's place."""
        members = self.results
        ids = self._watched_ids()
        view = self._workflow.read(
            lambda store: self._workflow.wait(
                store,
                ids,
                lambda view: all(
                    celery_state(view, member._ref, False) in READY_STATES for member in members
                ),
                timeout,
            )
        )
        return [member._outcome(view, propagate=propagate, missing=None) for member in members]
