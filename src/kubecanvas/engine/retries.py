"""When a failed task runs again, and after how long.

Two sources set a task's retry rule: the Workflow (`options.retries`, merged from
`spec.defaults` down to the task) and the task's own `@task(...)` decorator, which
only the runtime can see and reports with each failure. The Workflow wins field by
field. A rule from the Workflow retries any exception unless `autoretryFor` narrows
it; the decorator, like Celery, retries automatically only with `autoretry_for`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kubecanvas._kits.determinism import stable_fraction
from kubecanvas.engine.states import TaskFailure

__all__ = ["DEFAULT_MAX_RETRIES", "RetryRule", "retry_rule"]

DEFAULT_MAX_RETRIES = 3  # Celery's default limit for self.retry()
DEFAULT_DELAY = 1.0
LONGEST_DELAY = 365 * 24 * 3600.0  # a cap that keeps `not_before` a finite JSON number


@dataclass(frozen=True, slots=True)
class RetryRule:
    max: int = DEFAULT_MAX_RETRIES
    delay: float = DEFAULT_DELAY
    backoff: float = 1.0
    backoff_max: float | None = None
    jitter: bool = False
    autoretry_for: tuple[str, ...] | None = None  # None: any exception
    automatic: bool = False  # retry raised exceptions and lost pods without being asked

    def retries(self, error: TaskFailure, attempt: int, *, lost: bool = False) -> bool:
        """Whether attempt `attempt`, failed with `error`, is retried without being asked:
        the rule is automatic, retries are left, and the exception is one `autoretryFor`
        names (a lost pod always is). The engine decides by it; a task's `on_retry` handler
        (execution/hooks.py) is chosen by it."""
        eligible = lost or self.autoretry_for is None or error.matches(self.autoretry_for)
        return self.automatic and eligible and attempt - 1 < self.max

    def countdown(self, retry_number: int, task_id: str) -> float:
        """Seconds before retry number `retry_number` (1 for the first retry)."""
        try:
            seconds = self.delay * self.backoff ** max(retry_number - 1, 0)
        except OverflowError:  # 3.0 ** 700: a valid rule (max 1000, backoff 3) must not crash the engine
            seconds = math.inf
        if self.backoff_max is not None:
            seconds = min(seconds, self.backoff_max)
        seconds = min(seconds, LONGEST_DELAY)
        if self.jitter:
            seconds *= stable_fraction(task_id, retry_number)
        return max(seconds, 0.0)


def retry_rule(workflow_rule: Any, task_rule: Any) -> RetryRule:
    """Merge the Workflow's `retries` option over the decorator's rule (JSON mappings).

    A `retries` mapping in the Workflow, even `{}`, turns automatic retries on."""
    from_workflow = isinstance(workflow_rule, dict)
    workflow_rule = workflow_rule if isinstance(workflow_rule, dict) else {}
    task_rule = task_rule if isinstance(task_rule, dict) else {}

    def pick(name: str, default: Any) -> Any:
        for source in (workflow_rule, task_rule):
            if source.get(name) is not None:
                return source[name]
        return default

    autoretry_for = pick("autoretryFor", None)
    automatic = from_workflow or bool(task_rule.get("autoretryFor"))
    return RetryRule(
        max=int(pick("max", DEFAULT_MAX_RETRIES)),
        delay=float(pick("delay", DEFAULT_DELAY)),
        backoff=float(pick("backoff", 1.0)),
        backoff_max=float(pick("backoffMax", 0)) or None,
        jitter=bool(pick("jitter", False)),
        autoretry_for=tuple(autoretry_for) if autoretry_for else None,
        automatic=automatic,
    )
