"""A CronWorkflow's spec: every problem at once, by field path; the template checked as a Workflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubecanvas.canvas.cron_model import CronWorkflow
from kubecanvas.canvas.validation import parse_spec
from kubecanvas.errors import InvalidWorkflow
from kubecanvas.scheduling import CronSchedule, IntervalSchedule, parse_cron_spec, parse_cron_workflow

TEMPLATE = {"canvas": {"task": "conftasks.add", "args": [1, 2]}}


def problems(spec: Any) -> list[str]:
    with pytest.raises(InvalidWorkflow) as error:
        parse_cron_spec(spec)
    return [str(problem) for problem in error.value.problems]


def test_defaults() -> None:
    parsed = parse_cron_spec({"schedule": "*/5 * * * *", "workflowSpec": TEMPLATE})
    model = parsed.model
    assert (model.timezone, model.concurrency_policy, model.suspend) == ("UTC", "Allow", False)
    assert (model.successful_runs_history_limit, model.failed_runs_history_limit) == (3, 1)
    assert model.starting_deadline_seconds is None
    assert model.workflow_spec.parallelism == 50
    assert parsed.schedule == CronSchedule("*/5 * * * *")
    assert parsed.schedule_text == "*/5 * * * *"


def test_the_schedule_text_names_the_time_zone_of_a_cron_expression() -> None:
    paris = parse_cron_spec({"schedule": "0 9 * * *", "timezone": "Europe/Paris", "workflowSpec": TEMPLATE})
    assert paris.schedule_text == "0 9 * * * (Europe/Paris)"
    every = parse_cron_spec(
        {"schedule": {"every": "90s"}, "timezone": "Europe/Paris", "workflowSpec": TEMPLATE}
    )
    assert every.schedule == IntervalSchedule(90)
    assert every.schedule_text == "every 1m30s"


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        {
            "schedule": "*/5 * * *",
            "timezone": "Europe/Pariss",
            "concurrencyPolicy": "forbid",
            "startingDeadlineSeconds": -1,
            "successfulRunsHistoryLimit": True,
            "workflowSpec": {"canvas": {"chain": [{"task": "conftasks.add"}, {"chord": {"header": []}}]}},
            "suspended": True,
        }
    )
    assert found == [
        "spec.timezone: 'Europe/Pariss' is not a known IANA time zone (did you mean 'Europe/Paris'?); "
        "use a name such as 'Europe/Paris' or 'UTC'",
        "spec.schedule: '*/5 * * *' is not a valid cron expression: expected 5 fields "
        "(minute hour day-of-month month day-of-week), got 4",
        "spec.workflowSpec.canvas.chain[1].chord: 'body' is required",
        "spec: unknown field 'suspended' (did you mean 'suspend'?); allowed here: concurrencyPolicy, "
        "failedRunsHistoryLimit, schedule, startingDeadlineSeconds, successfulRunsHistoryLimit, suspend, "
        "timezone, workflowSpec",
    ]


def test_field_problems_once_the_keys_are_right() -> None:
    found = problems(
        {
            "schedule": {"every": "30s"},
            "concurrencyPolicy": "forbid",
            "startingDeadlineSeconds": -1,
            "successfulRunsHistoryLimit": True,
            "workflowSpec": TEMPLATE,
        }
    )
    assert found == [
        "spec.concurrencyPolicy: must be 'Allow', 'Forbid' or 'Replace', got 'forbid'",
        "spec.startingDeadlineSeconds: must be at least 0, got -1",
        "spec.successfulRunsHistoryLimit: must be a number, not true",
    ]


def test_the_template_is_checked_exactly_as_a_workflow_spec() -> None:
    template = {"canvas": {"task": "add"}, "parallelism": 0}
    with pytest.raises(InvalidWorkflow) as as_workflow:
        parse_spec(template, path="spec.workflowSpec")
    assert problems({"schedule": "@daily", "workflowSpec": template}) == [
        str(problem) for problem in as_workflow.value.problems
    ]


def test_required_fields() -> None:
    assert problems({}) == ["spec: 'schedule' is required", "spec: 'workflowSpec' is required"]
    assert problems("@daily") == ["spec: must be a mapping, not str"]


def test_a_revoked_template_is_refused() -> None:
    assert problems({"schedule": "@daily", "workflowSpec": {**TEMPLATE, "revoke": True}}) == [
        "spec.workflowSpec.revoke: cannot be true in a template: every run would be revoked at once"
    ]


def test_the_document_model() -> None:
    document = CronWorkflow.model_validate(
        {
            "apiVersion": "kubecanvas.io/v1alpha1",
            "kind": "CronWorkflow",
            "metadata": {"name": "nightly", "uid": "u1"},
            "spec": {"schedule": {"every": "1h"}, "workflowSpec": TEMPLATE},
        }
    )
    assert document.spec.schedule.model_dump() == {"every": "1h"}  # type: ignore[union-attr]
    assert document.metadata.name == "nightly"


def test_a_whole_document() -> None:
    path = Path(__file__).resolve().parents[3] / "examples" / "cron-quickstart.yaml"
    parsed = parse_cron_workflow(yaml.safe_load(path.read_text()))
    assert parsed.schedule_text == "*/5 * * * * (Europe/Paris)"
    assert parsed.model.concurrency_policy == "Forbid"
    with pytest.raises(InvalidWorkflow) as error:
        parse_cron_workflow(
            {
                "apiVersion": "kubecanvas.io/v1",
                "kind": "CronWorkflow",
                "metadata": {"name": "Nightly"},
                "spec": {"schedule": "@nightly", "workflowSpec": TEMPLATE},
            }
        )
    assert [str(problem) for problem in error.value.problems] == [
        "spec.schedule: '@nightly' is not a valid cron expression: unknown macro "
        "(did you mean '@midnight'?); known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, "
        "@hourly, @every <duration>",
        "apiVersion: must be 'kubecanvas.io/v1alpha1', got 'kubecanvas.io/v1'",
        "metadata.name: 'Nightly' is not valid here "
        "(expected a lowercase DNS name: letters, digits, '-' and '.')",
    ]
    with pytest.raises(InvalidWorkflow, match="'spec' is required"):
        parse_cron_workflow({"apiVersion": "kubecanvas.io/v1alpha1", "kind": "CronWorkflow"})
