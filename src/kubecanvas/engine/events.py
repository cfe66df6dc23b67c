"""What the engine can be told: one typed vocabulary, fed through one door (`Engine.feed`).

Like h11's `_events.py`: every input is a small frozen value, so a host (the operator,
the local runner, eager mode, the test simulator) cannot call the engine in a way the
vocabulary does not name, and a recorded sequence of events replays exactly. Each event
carries `at`, the time it happened: the engine reads no clock.

    step = engine.feed(Started("t0", attempt=1, at=now))
"""

from __future__ import annotations

from dataclasses import dataclass

from kubecanvas._kits.jsonvalues import JSONObject
from kubecanvas.engine.states import TaskFailure

__all__ = [
    "Event",
    "Expired",
    "Failed",
    "RetryRequested",
    "Revoke",
    "Start",
    "Started",
    "Succeeded",
    "Tick",
]


@dataclass(frozen=True, slots=True)
class Start:
    """Begin the workflow: tasks with no dependencies become ready. Harmless to repeat."""

    at: float


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed: delayed tasks that are due launch, expired ones are revoked."""

    at: float


@dataclass(frozen=True, slots=True)
class Revoke:
    """Cancel the workflow: nothing new starts, running attempts are killed."""

    at: float


@dataclass(frozen=True, slots=True)
class Started:
    """Attempt `attempt` of task `task_id` began running."""

    task_id: str
    attempt: int
    at: float


@dataclass(frozen=True, slots=True)
class Succeeded:
    """The attempt returned; its value is in the store."""

    task_id: str
    attempt: int
    at: float


@dataclass(frozen=True, slots=True)
class Failed:
    """The attempt raised `error` (or, with `lost`, its pod or process died without a word).

    `task_rule` is the `@task` decorator's retry rule, which only the runtime can see."""

    task_id: str
    attempt: int
    error: TaskFailure
    at: float
    task_rule: JSONObject | None = None
    lost: bool = False


@dataclass(frozen=True, slots=True)
class RetryRequested:
    """The task called `self.retry()`: `countdown` and `max_retries` override its rule."""

    task_id: str
    attempt: int
    at: float
    countdown: float | None = None
    max_retries: int | None = None
    error: TaskFailure | None = None
    task_rule: JSONObject | None = None


@dataclass(frozen=True, slots=True)
class Expired:
    """The runtime found the attempt's `expires` had passed before it started."""

    task_id: str
    attempt: int
    at: float


Event = Start | Tick | Revoke | Started | Succeeded | Failed | RetryRequested | Expired
"""Everything the engine can be told."""
