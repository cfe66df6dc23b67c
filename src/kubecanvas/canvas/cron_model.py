"""The CronWorkflow document (`kubecanvas.io/v1alpha1`): a Workflow started on a schedule,
Celery beat's job done by Kubernetes.

These models check the document's shape. What a schedule *means* (a cron expression
that parses, a duration, an IANA time zone) is checked by
`kubecanvas.scheduling.parse_cron_spec`, which uses these models and reports every
problem by field path, as `parse_spec` does for a Workflow:
`spec.schedule: '*/5 * * *' is not a valid cron expression: ...`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from kubecanvas.canvas.base import NotBool, Strict
from kubecanvas.canvas.model import Metadata, WorkflowSpec

__all__ = [
    "CONCURRENCY_POLICIES",
    "ConcurrencyPolicy",
    "CronWorkflow",
    "CronWorkflowSpec",
    "EverySchedule",
]

ConcurrencyPolicy = Literal["Allow", "Forbid", "Replace"]
CONCURRENCY_POLICIES: tuple[ConcurrencyPolicy, ...] = ("Allow", "Forbid", "Replace")


class EverySchedule(Strict):
    """`schedule: {every: 30s}`: a fixed interval (`30s`, `5m`, `1h30m`, `1d`)."""

    every: Annotated[str, Field(min_length=1)]


class CronWorkflowSpec(Strict):
    schedule: str | EverySchedule = Field(union_mode="left_to_right")
    """A five-field cron expression (or @hourly, @daily, ...), or `{every: DURATION}`."""
    timezone: Annotated[str, Field(min_length=1)] = "UTC"
    """The IANA time zone cron expressions are read in; `every` intervals ignore it."""
    concurrency_policy: ConcurrencyPolicy = "Allow"
    starting_deadline_seconds: Annotated[int, Field(ge=0), NotBool] | None = None
    suspend: bool = False
    successful_runs_history_limit: Annotated[int, Field(ge=0), NotBool] = 3
    failed_runs_history_limit: Annotated[int, Field(ge=0), NotBool] = 1
    workflow_spec: WorkflowSpec


class CronWorkflow(Strict):
    api_version: Literal["kubecanvas.io/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["CronWorkflow"]
    metadata: Metadata = Field(default_factory=Metadata)
    spec: CronWorkflowSpec
    status: dict[str, Any] | None = None
