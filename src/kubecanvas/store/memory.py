"""The local runner's embedded store: the host-side interface, kept in memory."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas.engine.machine import Engine
from kubecanvas.graph.nodes import Graph, TaskNode
from kubecanvas.store.layout import Outcome, WorkflowMeta

__all__ = ["MemoryStore", "ResultStore"]


class ResultStore(Protocol):
    """What a host that runs tasks itself (the local runner) needs from a store."""

    async def create(self, uid: str, graph: Graph, meta: WorkflowMeta) -> bool: ...

    async def save_step(
        self, uid: str, engine: Engine, changed: Iterable[str], new_nodes: Iterable[TaskNode]
    ) -> None: ...

    async def put_outcome(
        self,
        uid: str,
        task_id: str,
        attempt: int,
        outcome: Outcome,
        *,
        value: JSON = None,
        call: JSONObject | None = None,
    ) -> None: ...

    async def results(self, uid: str, node_ids: Iterable[str] | None = None) -> dict[str, JSON]: ...

    async def calls(self, uid: str) -> dict[str, JSONObject]: ...


@dataclass
class _Workflow:
    meta: WorkflowMeta
    results: dict[str, JSON] = field(default_factory=dict)
    calls: dict[str, JSONObject] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)


class MemoryStore:
    """Results and calls in a dict; the engine itself holds the records."""

    def __init__(self) -> None:
        self._workflows: dict[str, _Workflow] = {}

    async def create(self, uid: str, graph: Graph, meta: WorkflowMeta) -> bool:
        if uid in self._workflows:
            return False
        self._workflows[uid] = _Workflow(meta)
        return True

    async def save_step(
        self, uid: str, engine: Engine, changed: Iterable[str], new_nodes: Iterable[TaskNode]
    ) -> None:
        workflow = self._workflows[uid]
        workflow.meta = replace(
            workflow.meta, phase=engine.phase, started_at=engine.started_at, finished_at=engine.finished_at
        )

    async def put_outcome(
        self,
        uid: str,
        task_id: str,
        attempt: int,
        outcome: Outcome,
        *,
        value: JSON = None,
        call: JSONObject | None = None,
    ) -> None:
        workflow = self._workflows[uid]
        if call is not None:
            workflow.calls[task_id] = call
        workflow.outcomes.setdefault(f"{task_id}#{attempt}", outcome)
        if outcome.kind == "succeeded":
            workflow.results.setdefault(task_id, value)

    async def results(self, uid: str, node_ids: Iterable[str] | None = None) -> dict[str, JSON]:
        stored = self._workflows[uid].results
        if node_ids is None:
            return dict(stored)
        return {node_id: stored[node_id] for node_id in node_ids if node_id in stored}

    async def calls(self, uid: str) -> dict[str, JSONObject]:
        return dict(self._workflows[uid].calls)
