"""What the operator's handlers share, typed (kopf passes it to every handler as `memo`).

kopf gives each watched object a shallow copy of the operator's memo, made when the
object is first seen, which is after the startup handlers ran: the `services` built at
start-up and the `cron_watches` registry are therefore shared by every handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kubecanvas.store.hostside import WorkflowStore
from kubecanvas_operator.config import OperatorConfig

if TYPE_CHECKING:
    from kubecanvas_operator.conductor import Conductor
    from kubecanvas_operator.k8sevents import EventPoster
    from kubecanvas_operator.kube import KubeApi
    from kubecanvas_operator.metrics import OperatorMetrics

__all__ = ["CronWatch", "Front", "OperatorMemo", "Services"]


@dataclass
class CronWatch:
    """One CronWorkflow's schedule task, and what decides whether news wakes it."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    generation: int | None = None
    phases: dict[str, str | None] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None


@dataclass
class Services:
    """What `handlers.start` builds once the operator starts, and `handlers.stop` closes."""

    api: KubeApi
    store: WorkflowStore
    conductor: Conductor
    events: EventPoster
    metrics: OperatorMetrics
    background: list[asyncio.Task[None]] = field(default_factory=list)


@dataclass
class Front:
    """What `front.start` builds for the admission webhook and the results API, which every
    replica serves, leading or standing by (they change no workflow), and `front.stop` closes."""

    api: KubeApi
    store: WorkflowStore
    # The user the operator acts as: the Workflows it starts from CronWorkflows are admitted
    # without an author check (the CronWorkflow's author was checked when applying it).
    identity: str = ""
    background: list[asyncio.Task[None]] = field(default_factory=list)


@dataclass
class OperatorMemo:
    config: OperatorConfig
    services: Services | None = None
    front: Front | None = None
    cron_watches: dict[str, CronWatch] = field(default_factory=dict)  # CronWorkflow uid -> its task
    observe: Callable[[str, float], None] | None = None  # an extra metrics observer (benchmarks)

    @property
    def started(self) -> Services:
        """The services; only handlers that run after start-up may ask."""
        if self.services is None:
            raise RuntimeError("the operator has not started (or has stopped)")
        return self.services
