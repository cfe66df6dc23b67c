"""Celery's publish retry, for creating a Workflow: `apply_async(retry=, retry_policy=)`.

Celery retries sending a task message when the broker cannot be reached, by default
(`retry=True`, 3 more tries, waiting 0, 0.2, 0.2 s). Here the broker is the Kubernetes API,
so the same policy retries creating the Workflow when the API server was not reached,
throttled, failed, or was still starting (`KubeApiError.transient`). A retried create that
had in fact landed answers 409: the Workflow is read back instead (its name is unique).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubecanvas.errors import KubeApiError

__all__ = ["RetryPolicy", "create_with_retries"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Celery's `retry_policy` (its default values)."""

    max_retries: int | None = 3  # None: for ever, as in Celery
    interval_start: float = 0.0
    interval_step: float = 0.2
    interval_max: float = 0.2

    @classmethod
    def of(cls, retry: bool, policy: Mapping[str, Any] | None) -> RetryPolicy:
        """The policy of a call: none at all with `retry=False`; unknown keys are refused."""
        if not retry:
            return cls(max_retries=0)
        given = dict(policy or {})
        unknown = sorted(set(given) - {"max_retries", "interval_start", "interval_step", "interval_max"})
        if unknown:
            raise TypeError(f"retry_policy: unknown keys {unknown}; Celery's are max_retries and interval_*")
        return cls(**given)

    def wait(self, retry_number: int) -> float:
        """Seconds before retry number `retry_number` (from 1)."""
        return min(self.interval_start + self.interval_step * (retry_number - 1), self.interval_max)


def create_with_retries(
    create: Callable[[], dict[str, Any]],
    read_back: Callable[[], dict[str, Any]],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """`create()`, tried again per `policy` while it fails transiently."""
    retries = 0
    while True:
        try:
            return create()
        except KubeApiError as error:
            if retries and error.status == 409:
                return read_back()  # an earlier try landed; its answer was lost
            if not error.transient or (policy.max_retries is not None and retries >= policy.max_retries):
                raise
        retries += 1
        sleep(policy.wait(retries))
