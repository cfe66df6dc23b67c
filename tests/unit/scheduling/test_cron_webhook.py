"""The CronWorkflow admission handler, called as kopf calls it."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import pytest

from kubecanvas_operator.config import OperatorConfig
from kubecanvas_operator.memo import OperatorMemo
from kubecanvas_operator.webhook import CRON_WEBHOOK_PATH_ID, validate_cronworkflow

VALID = {"schedule": "@daily", "workflowSpec": {"canvas": {"task": "conftasks.add", "args": [1, 2]}}}
INVALID = {**VALID, "schedule": "*/5 * * *"}


class AllowAll:
    async def review_access(self, user: Any, namespace: str, **access: Any) -> tuple[bool, str]:
        return True, ""


def call(spec: dict[str, Any], operation: str, old: dict[str, Any] | None = None) -> None:
    """As kopf calls it: the spec, the operation, who asks, and the operator's memo."""
    memo = OperatorMemo(OperatorConfig())
    memo.front = type("Front", (), {"api": AllowAll(), "identity": ""})()  # type: ignore[assignment]
    asyncio.run(
        validate_cronworkflow(
            kopf.Body({"spec": spec}).spec,
            operation=operation,
            old=old,
            userinfo={"username": "alice"},
            namespace="team-a",
            memo=memo,
        )
    )


def test_the_path_the_chart_points_at() -> None:
    assert CRON_WEBHOOK_PATH_ID == "validate-cronworkflow"


def test_a_valid_cronworkflow_passes() -> None:
    call(VALID, "CREATE")


@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
def test_an_invalid_one_is_refused_with_its_field_paths(operation: str) -> None:
    old: dict[str, Any] = {"spec": VALID}
    with pytest.raises(kopf.AdmissionError) as error:
        call(INVALID, operation, old)
    assert str(error.value) == (
        "invalid CronWorkflow: spec.schedule: '*/5 * * *' is not a valid cron expression: expected 5 fields "
        "(minute hour day-of-month month day-of-week), got 4"
    )
    assert error.value.code == 422


def test_an_update_that_leaves_the_spec_alone_passes_even_if_it_is_invalid() -> None:
    """kopf takes its finalizer off with an UPDATE: an invalid CronWorkflow created before the
    webhook was enabled must still be deletable."""
    call(INVALID, "UPDATE", {"spec": INVALID})


def test_a_template_naming_a_queue_the_cluster_lacks_is_refused() -> None:
    """Else every run would be refused at its admission, one per schedule, and say so only then."""
    queued = {**VALID, "workflowSpec": {"canvas": {"task": "conftasks.add", "options": {"queue": "gpu"}}}}
    with pytest.raises(kopf.AdmissionError) as error:
        call(queued, "CREATE")
    assert str(error.value) == (
        "invalid CronWorkflow: spec.workflowSpec.canvas.options.queue: no queue 'gpu' on this cluster; "
        "its queues: none (the chart's `tasks.queues` is empty)"
    )
