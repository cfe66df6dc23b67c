"""Celery's `celery.exceptions` names, for `from kubecanvas.exceptions import ...` in ported
programs. The exceptions themselves, and their tree, are in `kubecanvas.errors`."""

from __future__ import annotations

from kubecanvas.errors import (
    ChordError,
    MaxRetriesExceededError,
    Retry,
    SoftTimeLimitExceeded,
    TaskError,
    TaskRevokedError,
    TimeLimitExceeded,
    WorkerLostError,
)

__all__ = [
    "ChordError",
    "MaxRetriesExceededError",
    "Retry",
    "SoftTimeLimitExceeded",
    "TaskError",
    "TaskRevokedError",
    "TimeLimitExceeded",
    "TimeoutError",
    "WorkerLostError",
]

from kubecanvas.errors import ResultTimeoutError as TimeoutError
