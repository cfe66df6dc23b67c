"""Every exception kubecanvas raises, under one root: `KubecanvasError`.

    KubecanvasError
    ├── InvalidWorkflow        a Workflow that cannot run: every problem, by field path (ValueError)
    │   └── TaskArgumentsError     a task called with arguments its function cannot take (TypeError)
    ├── ConfigurationError     a setting the operator or a task pod cannot work with (ValueError)
    ├── NotJSONError           a value that cannot travel between tasks (TypeError)
    ├── ClusterError           the Kubernetes API could not be reached, or refused a request
    │   ├── KubeApiError       ... with the HTTP status it answered (0: not reached)
    │   └── WorkflowNotFound   no Workflow of that name in that namespace
    ├── StoreError             Redis, where workflow state and results live
    │   ├── StoreConnectionError   could not be reached (after retrying), or the connection broke
    │   ├── StoreReplyError        answered a command with an error
    │   └── StateLostError         a running workflow's state is gone (Redis flushed or not persisted)
    ├── CodeSourceError        a task's code could not be fetched (git, pip, ConfigMap)
    ├── ResultError            a result cannot be given
    │   ├── ResultTimeoutError     `get(timeout=...)` ran out of time (TimeoutError)
    │   └── ResultExpiredError     the task states left Redis (ttlSecondsAfterFinished)
    ├── TaskError              why a task did not succeed (Celery's names)
    │   ├── ChordError             a chord body that never ran: a header task failed
    │   ├── TaskRevokedError       revoked, or expired before it started
    │   ├── TimeLimitExceeded      ran past its `timeout`
    │   ├── SoftTimeLimitExceeded  raised inside a task at its `softTimeout`, to catch and clean up
    │   ├── WorkerLostError        its process or pod died without reporting
    │   ├── MaxRetriesExceededError    asked for one retry too many
    │   ├── TaskImportError        the task named in the Workflow cannot be imported (ImportError)
    │   └── JobCreationError       the task's Job could not be created
    └── Retry                  raised by `self.retry()` inside a task: not an error, a request

Errors *about* a workflow (invalid input, an unreachable cluster or store) are raised to
the caller. `TaskError`s *describe a task's fate*: they appear by name in `status.error`,
`kubecanvas get` and what errbacks receive, and `res.get()` raises them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ChordError",
    "ClusterError",
    "CodeSourceError",
    "ConfigurationError",
    "InvalidWorkflow",
    "JobCreationError",
    "KubeApiError",
    "KubecanvasError",
    "MaxRetriesExceededError",
    "NotJSONError",
    "Problem",
    "ResultError",
    "ResultExpiredError",
    "ResultTimeoutError",
    "Retry",
    "SoftTimeLimitExceeded",
    "StateLostError",
    "StoreConnectionError",
    "StoreError",
    "StoreReplyError",
    "TaskArgumentsError",
    "TaskError",
    "TaskImportError",
    "TaskRevokedError",
    "TimeLimitExceeded",
    "WorkerLostError",
    "WorkflowNotFound",
]


class KubecanvasError(Exception):
    """The root of every exception raised by kubecanvas."""


# ---------------------------------------------------------------- input and settings


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


class TaskArgumentsError(InvalidWorkflow, TypeError):
    """A task given arguments its function cannot take (too many, a missing one, an unknown
    keyword), found when the call is built, as Celery's `apply_async` finds it."""


class ConfigurationError(KubecanvasError, ValueError):
    """A setting the operator or a task pod cannot work with; the message names it."""


class NotJSONError(KubecanvasError, TypeError):
    """A value that cannot travel as JSON; `path` says where inside it the culprit sits."""

    def __init__(self, path: str, value: object) -> None:
        self.path = path
        self.value = value
        where = f" at {path}" if path else ""
        super().__init__(f"value{where} is not JSON: {type(value).__name__} {_short_repr(value)}")


def _short_repr(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------- the outside world


class ClusterError(KubecanvasError):
    """The cluster could not be reached, or refused a request; the message says which and why."""


class KubeApiError(ClusterError):
    """A Kubernetes API call failed; `status` is the HTTP status (0 when unreachable).

    `unready`: a refusal (401, 403) from an API server that also said it is not ready yet.
    One just started answers before its token and RBAC caches are filled: on the local node a
    task pod was refused its own ConfigMap a second after a restart. Such a refusal is
    transient; the same refusal from a ready server is believed."""

    UNSURE = frozenset({401, 403})
    """Refusals believed only once the server says it is ready (`/readyz`)."""

    def __init__(self, status: int, message: str, *, unready: bool = False) -> None:
        self.status = status
        self.unready = unready
        super().__init__(f"{message} (the API server is not ready yet)" if unready else message)

    def restated(self, message: str) -> KubeApiError:
        """The same failure (its status, whether the server was ready) told as `message`."""
        error = KubeApiError(self.status, message)
        error.unready = self.unready
        return error

    @property
    def transient(self) -> bool:
        """Worth trying again: not reached, throttled, a server-side failure, or a refusal
        from a server still starting."""
        return self.unready or self.status in (0, 429) or self.status >= 500


class WorkflowNotFound(ClusterError):
    """No Workflow of that name in that namespace (it never existed, or was deleted)."""


class StoreError(KubecanvasError):
    """Redis, where workflow state and results live, failed."""


class StoreConnectionError(StoreError):
    """Redis could not be reached (after retrying), or the connection broke."""


class StoreReplyError(StoreError):
    """Redis answered a command with an error (`-ERR ...`)."""


class StateLostError(StoreError):
    """A running workflow's state is no longer in Redis (flushed, or a restart of a Redis without
    persistence): what its tasks did cannot be known, so it ends Failed, never Running forever."""


class CodeSourceError(KubecanvasError):
    """A task's code could not be fetched; the message says from where and why."""


# ---------------------------------------------------------------- results


class ResultError(KubecanvasError):
    """A result cannot be given (beyond the task's own failure, which is raised as it is)."""


class ResultTimeoutError(ResultError, TimeoutError):
    """`get(timeout=...)` ran out of time (Celery's `TimeoutError`)."""


class ResultExpiredError(ResultError):
    """The task states of a finished workflow are no longer in Redis (they expire after
    `spec.ttlSecondsAfterFinished`); the workflow's own result is still in its status."""


# ---------------------------------------------------------------- a task's fate


class TaskError(KubecanvasError):
    """Base of the errors that describe why a task did not succeed."""


class ChordError(TaskError):
    """A chord body that did not run because a header task failed."""


class TaskRevokedError(TaskError):
    """A task that was revoked, or expired before it could start."""


class TimeLimitExceeded(TaskError):
    """A task that ran past its `timeout`."""


class SoftTimeLimitExceeded(TaskError):
    """Raised inside a task when its `softTimeout` (Celery's `soft_time_limit`) is reached:
    the task may catch it and finish up before `timeout` stops it; uncaught, it fails it."""


class WorkerLostError(TaskError):
    """A task whose process or pod died without reporting (killed, OOM, evicted)."""


class MaxRetriesExceededError(TaskError):
    """A task that asked for one more retry than it is allowed."""


class TaskImportError(TaskError, ImportError):
    """The task named in the workflow cannot be imported."""


class JobCreationError(TaskError):
    """The Kubernetes Job of a task attempt could not be created."""


class Retry(KubecanvasError):
    """Raised by `self.retry()` inside a task: ask for another attempt.

    `countdown` is the delay before it, `exc` the error to report if no retries are
    left, `max_retries` an override of the task's limit; `cause`, the exception being
    handled when it was asked for, is named in the message only.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        exc: BaseException | None = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        cause: BaseException | None = None,
    ) -> None:
        self.exc = exc
        self.countdown = countdown
        self.max_retries = max_retries
        if message is None:
            message = f"Retry in {countdown}s" if countdown is not None else "Retry"
            if cause is not None:
                message += f": {type(cause).__name__}({cause})"
        super().__init__(message)
