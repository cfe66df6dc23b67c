"""TaskOptions: how, when and where a task runs (how options combine: `merging`)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from kubecanvas._kits.jsonvalues import JSONObject
from kubecanvas.canvas.base import JSONValue, NotBool, Strict
from kubecanvas.canvas.names import TASK_ID

__all__ = ["EnvVar", "Resources", "RetryPolicy", "TaskOptions"]

Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False), NotBool]


class RetryPolicy(Strict):
    """Retry a task that raised (any exception, or only those in `autoretryFor`) or
    whose pod died. The n-th retry waits `delay * backoff**(n-1)` seconds, at most
    `backoffMax`; with `jitter` a random part of that (full jitter, as Celery).

    Every field is optional, so that a layer can override one of them (`delay` on a
    task under `spec.defaults.retries.max`); a merged rule without `max` allows
    Celery's 3 retries."""

    max: Annotated[int, Field(ge=0, le=1000), NotBool] | None = None
    delay: Seconds | None = None
    backoff: Annotated[float, Field(ge=1, le=100, allow_inf_nan=False), NotBool] | None = None
    backoff_max: Annotated[float, Field(gt=0, allow_inf_nan=False), NotBool] | None = None
    jitter: bool | None = None
    autoretry_for: list[Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z_][\w.]*$")]] | None = None


class Resources(Strict):
    limits: dict[str, str | int | float] | None = None
    requests: dict[str, str | int | float] | None = None


class EnvVar(Strict):
    """A container environment variable, as in a Pod spec (`value` or `valueFrom`)."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")]
    value: str | None = None
    value_from: dict[str, JSONValue] | None = None


class TaskOptions(Strict):
    countdown: Seconds | None = None
    eta: AwareDatetime | None = None
    expires: Seconds | AwareDatetime | None = None
    timeout: Annotated[float, Field(gt=0, allow_inf_nan=False), NotBool] | None = None
    soft_timeout: Annotated[float, Field(gt=0, allow_inf_nan=False), NotBool] | None = None
    """Celery's `soft_time_limit`: SoftTimeLimitExceeded is raised inside the task, which may
    catch it and clean up before `timeout` (when both are set, it must come first)."""
    retries: RetryPolicy | None = None
    image: Annotated[str, Field(min_length=1)] | None = None
    resources: Resources | None = None
    env: list[EnvVar] | None = None
    node_selector: dict[str, str] | None = None
    tolerations: list[dict[str, JSONValue]] | None = None
    service_account_name: Annotated[str, Field(min_length=1)] | None = None
    priority: Annotated[int, Field(ge=0, le=255), NotBool] | None = None
    headers: dict[str, JSONValue] | None = None
    """Celery's custom message headers: the task reads them as `self.request.headers`,
    `self.request.get(name)` or `self.request.<name>`. Data for the task, never options."""
    task_id: Annotated[str, Field(min_length=1, max_length=255, pattern=TASK_ID)] | None = None
    """Celery's `task_id`: this task's own id (`self.request.id`, its result's `id`, what
    `AsyncResult(id)` finds), instead of the one made from its Workflow's uid
    (`graph.identity`). Only one task's own options may set it (not a chain's, group's,
    chord's, chunks' or `defaults`), and no two tasks of a Workflow share one."""
    queue: (
        Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")] | None
    ) = None
    """Celery's queue: a place to run that the cluster's operator defines (the chart's
    `queues`: node selector, tolerations, resources, image, ...), under the task's own options."""
    runner: Literal["pod", "warm"] | None = None
    """Where an attempt runs: `pod` (the default) a Job and pod of its own; `warm` a forked
    process of a long-lived runner pod of its workflow, shared by the tasks with the same
    pod template (image, resources, env, ...): the next task starts in milliseconds, not a
    pod start. Runners exit when idle (the operator's `runnerIdleSeconds`)."""
    runners: Annotated[int, Field(ge=1, le=1000), NotBool] | None = None
    """With `runner: warm`: at most this many runner pods for the task's pool, as a Celery
    worker's `--concurrency` (each runs one task at a time); default the operator's
    `runnersPerPool`. Usually a queue's setting. Part of the pod template: tasks that ask for
    other numbers are other pools."""

    @field_validator("expires", mode="before")
    @classmethod
    def _expires_is_seconds_or_time(cls, value: Any) -> Any:
        """One clear error for `expires`, instead of one per branch of the union.

        Numbers are settled here: left to the union, a negative number would fail as
        seconds and then pass as a Unix timestamp (-3 -> 1969-12-31T23:59:57Z)."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value) and value >= 0:
                return float(value)
            raise PydanticCustomError(
                "expires_type",
                "must be a number of seconds (0 or more) or an RFC 3339 time such as "
                "2030-01-01T00:00:00Z, not {value}",
                {"value": repr(value)},
            )
        moment = value if isinstance(value, datetime) else None
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment
        raise PydanticCustomError(
            "expires_type",
            "must be a number of seconds or an RFC 3339 time such as 2030-01-01T00:00:00Z, not {value}",
            {"value": repr(value)},
        )

    @model_validator(mode="after")
    def _soft_before_hard(self) -> TaskOptions:
        if self.soft_timeout is not None and self.timeout is not None and self.soft_timeout >= self.timeout:
            raise PydanticCustomError(
                "soft_timeout_order",
                "softTimeout ({soft}) must be shorter than timeout ({hard}): "
                "the task is warned before it is stopped",
                {"soft": f"{self.soft_timeout:g}", "hard": f"{self.timeout:g}"},
            )
        return self

    def to_json(self) -> JSONObject:
        """The options that were set, in the Workflow's spelling (times as RFC 3339)."""
        data: JSONObject = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return data
