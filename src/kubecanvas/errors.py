"""Every exception kubecanvas raises, under one root: `KubecanvasError`.

Two families live here. Errors *about* a workflow (invalid input, a cluster call
that failed) are raised to the caller. Errors that *describe a task's fate* carry
Celery's names (ChordError, TaskRevokedError, ...) because they appear, by name, in
`status.error` and are what errbacks receive.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ChordError",
    "InvalidWorkflow",
    "KubecanvasError",
    "MaxRetriesExceededError",
    "Problem",
    "Retry",
    "TaskError",
    "TaskRevokedError",
    "TimeLimitExceeded",
    "WorkerLostError",
]


class KubecanvasError(Exception):
    """The root of every exception raised by kubecanvas."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a Workflow: where (a field path such as
    `spec.canvas.chain[2].chord`) and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidWorkflow(KubecanvasError, ValueError):
    """A Workflow that cannot run, with every problem found and where it is."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(map(str, problems)) or "invalid workflow")


class TaskError(KubecanvasError):
    """Base of the errors that describe why a task did not succeed."""


class ChordError(TaskError):
    """A chord body that did not run because a header task failed."""


class TaskRevokedError(TaskError):
    """A task that was revoked, or expired before it could start."""


class TimeLimitExceeded(TaskError):
    """A task that ran past its `timeout`."""


class WorkerLostError(TaskError):
    """A task whose process or pod died without reporting (killed, OOM, evicted)."""


class MaxRetriesExceededError(TaskError):
    """A task that asked for one more retry than it is allowed."""


class Retry(KubecanvasError):
    """Raised by `self.retry()` inside a task: ask for another attempt.

    `countdown` is the delay before it, `exc` the error to report if no retries are
    left, `max_retries` an override of the task's limit.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        exc: BaseException | None = None,
        countdown: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        self.exc = exc
        self.countdown = countdown
        self.max_retries = max_retries
        super().__init__(message or (f"Retry in {countdown}s" if countdown is not None else "Retry"))
