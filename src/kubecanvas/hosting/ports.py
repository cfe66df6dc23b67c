"""What the host needs from the program around it: four small interfaces.

A launcher *starts* work and returns at once (creating a Job, spawning a process,
queueing a call); what becomes of the attempt comes back later through
`WorkflowHost.feed`. Nothing here may wait for a task: the host holds its workflow's
lock while it calls them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Protocol

from kubecanvas.engine.effects import Kill, Launch, Step
from kubecanvas.engine.machine import Engine
from kubecanvas.graph.nodes import TaskNode

if TYPE_CHECKING:
    from kubecanvas.hosting.host import WorkflowHost

__all__ = ["Alarm", "Launcher", "StepHook", "StepStore"]


class Launcher(Protocol):
    """Starts and stops task attempts."""

    def launch(self, host: WorkflowHost, launch: Launch) -> None:
        """Start the attempt; report its news with `host.feed(...)`."""

    def kill(self, host: WorkflowHost, kill: Kill) -> None:
        """Stop the attempt (revoked, expired, its workflow over); it must not report after."""


class StepStore(Protocol):
    """Where a step is persisted before it is carried out, so that a restart resumes it."""

    async def save_step(
        self, uid: str, engine: Engine, changed: Iterable[str], new_nodes: Iterable[TaskNode]
    ) -> None:
        """Persist what one step changed, atomically; StateLostError if the workflow's state is gone."""


class Alarm(Protocol):
    """Wakes the host at the engine's `wake_at` (a countdown, a retry delay, an expiry)."""

    def set(self, host: WorkflowHost, at: float | None) -> None:
        """Feed `host` a Tick at `at` (replacing any earlier alarm); None: no alarm."""


class StepHook(Protocol):
    """What a program does after each step, still under the workflow's lock (status, metrics)."""

    def __call__(self, host: WorkflowHost, step: Step) -> Awaitable[None]: ...
