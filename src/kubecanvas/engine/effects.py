"""What the engine asks its host (the operator, the local runner) to do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from kubecanvas.graph.nodes import TaskNode

__all__ = ["Kill", "Launch", "Notice", "Step"]


@dataclass(frozen=True, slots=True)
class Launch:
    """Start attempt `attempt` of `node` (create its Job, or spawn its process)."""

    node: TaskNode
    attempt: int


@dataclass(frozen=True, slots=True)
class Kill:
    """Stop attempt `attempt` of a task that is running or about to (revoked, expired)."""

    task_id: str
    attempt: int
    reason: str


@dataclass(frozen=True, slots=True)
class Notice:
    """Something a person watching the workflow wants to hear about."""

    kind: Literal["retry", "failure", "errback", "finished"]
    task_id: str | None
    message: str
    warning: bool = False


@dataclass(slots=True)
class Step:
    """Everything one event fed to the engine changed.

    The host persists `changed` records and `new_nodes` first, then performs
    `kills` and `launches`, and feeds a `Tick` at `wake_at`.
    """

    launches: list[Launch] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)
    new_nodes: list[TaskNode] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    wake_at: float | None = None
    phase_changed: bool = False

    @property
    def empty(self) -> bool:
        return not (self.launches or self.kills or self.changed or self.new_nodes or self.phase_changed)
