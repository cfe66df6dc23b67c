"""Parse a CronWorkflow's spec and explain what is wrong with it, by field path.

The schedule and the time zone are checked here (the document model checks shapes
only); the Workflow template is checked exactly as a Workflow's spec is, by
`parse_spec(..., path="spec.workflowSpec")`. Every problem is reported at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any

from pydantic import ValidationError

from kubecanvas.canvas.cron_model import CronWorkflow, CronWorkflowSpec
from kubecanvas.canvas.model import WorkflowSpec
from kubecanvas.canvas.validation import parse_spec, problems_from
from kubecanvas.errors import InvalidWorkflow, Problem
from kubecanvas.scheduling.schedules import CronSchedule, Schedule, parse_schedule, parse_timezone

__all__ = ["CronSpec", "parse_cron_spec", "parse_cron_workflow", "run_spec"]


@dataclass(frozen=True, slots=True)
class CronSpec:
    """A valid CronWorkflow spec with its schedule ready to evaluate."""

    model: CronWorkflowSpec
    schedule: Schedule
    zone: tzinfo

    @property
    def schedule_text(self) -> str:
        """What `status.schedule` shows: `*/5 * * * * (Europe/Paris)`, `every 30s`.

        It changes whenever the schedule or the zone a cron expression is read in
        changes, which is how the operator tells a new schedule from an old one."""
        if isinstance(self.schedule, CronSchedule) and self.zone is not UTC:
            return f"{self.schedule.text} ({self.zone})"
        return self.schedule.text


def parse_cron_spec(spec: Any, path: str = "spec") -> CronSpec:
    """A validated CronSpec, or InvalidWorkflow listing every problem."""
    if not isinstance(spec, Mapping):
        raise InvalidWorkflow([Problem(path, f"must be a mapping, not {type(spec).__name__}")])
    problems: list[Problem] = []
    owned = [f"{path}.schedule", f"{path}.workflowSpec"]  # reported here, never by the model

    zone: tzinfo = UTC
    if isinstance(spec.get("timezone"), str) and spec["timezone"]:
        try:
            zone = parse_timezone(spec["timezone"], f"{path}.timezone")
        except InvalidWorkflow as error:
            problems.extend(error.problems)
            owned.append(f"{path}.timezone")

    schedule: Schedule | None = None
    if "schedule" in spec:
        try:
            schedule = parse_schedule(spec["schedule"], zone, f"{path}.schedule")
        except InvalidWorkflow as error:
            problems.extend(error.problems)

    template: WorkflowSpec | Any = spec.get("workflowSpec")
    if "workflowSpec" in spec:
        try:
            template = parse_spec(spec["workflowSpec"], path=f"{path}.workflowSpec")
        except InvalidWorkflow as error:
            problems.extend(error.problems)
        else:
            if template.revoke:
                problems.append(
                    Problem(
                        f"{path}.workflowSpec.revoke",
                        "cannot be true in a template: every run would be revoked at once",
                    )
                )

    model: CronWorkflowSpec | None = None
    try:
        # A parsed template is taken as it is; a broken one was reported above.
        model = CronWorkflowSpec.model_validate({**spec, "workflowSpec": template} if template else spec)
    except ValidationError as error:
        problems.extend(
            problem
            for problem in problems_from(error, prefix=(path,))
            if not any(_under(problem.path, where) for where in owned)
        )
    if problems or model is None or schedule is None:
        raise InvalidWorkflow(problems or [Problem(path, "invalid CronWorkflow spec")])
    return CronSpec(model=model, schedule=schedule, zone=zone)


def parse_cron_workflow(document: Any) -> CronSpec:
    """A whole CronWorkflow document (apiVersion, kind, metadata, spec), every problem by path."""
    if not isinstance(document, Mapping):
        raise InvalidWorkflow(
            [Problem("", f"a CronWorkflow must be a mapping, not {type(document).__name__}")]
        )
    problems: list[Problem] = []
    parsed: CronSpec | None = None
    if "spec" in document:
        try:
            parsed = parse_cron_spec(document["spec"], "spec")
        except InvalidWorkflow as error:
            problems.extend(error.problems)
    try:
        CronWorkflow.model_validate({**document, "spec": parsed.model} if parsed else document)
    except ValidationError as error:
        problems.extend(problem for problem in problems_from(error) if not _under(problem.path, "spec"))
    if problems or parsed is None:
        raise InvalidWorkflow(problems or [Problem("spec", "invalid CronWorkflow spec")])
    return parsed


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((f"{prefix}.", f"{prefix}["))


def run_spec(document: Mapping[str, Any]) -> dict[str, Any]:
    """The spec of one run: the CronWorkflow's `workflowSpec`, without `revoke` (a run is
    never born revoked; the template's revoke is for runs already going)."""
    import copy

    spec = copy.deepcopy(dict((document.get("spec") or {}).get("workflowSpec") or {}))
    spec.pop("revoke", None)
    return spec
