"""Celery's soft_time_limit: SoftTimeLimitExceeded inside the task at `softTimeout`, which the
task may catch to clean up; `timeout` still stops it after. Run eagerly, through the same
`run_attempt` a pod uses (the limits need the main thread: a pod's runtime is one)."""

from __future__ import annotations

import pytest
from sdk_tasks import soft_cleanup, soft_ignored

from kubecanvas import InvalidWorkflow, SoftTimeLimitExceeded, TimeLimitExceeded
from kubecanvas.local.eager import run_eagerly


def test_the_task_catches_the_soft_limit_and_returns() -> None:
    assert (
        run_eagerly(soft_cleanup.s(5).set(soft_timeout=0.2, timeout=3).to_workflow("w")).get() == "cleaned up"
    )


def test_uncaught_it_fails_the_task_with_celerys_error() -> None:
    result = run_eagerly(soft_ignored.s(5).set(soft_time_limit=0.2).to_workflow("w"))
    with pytest.raises(SoftTimeLimitExceeded, match=r"SoftTimeLimitExceeded\(0\.2\)"):
        result.get()


def test_a_task_that_ignores_it_is_stopped_at_the_hard_limit() -> None:
    workflow = soft_cleanup.s(5, again=True).set(soft_timeout=0.2, timeout=0.6).to_workflow("w")
    with pytest.raises(TimeLimitExceeded, match=r"TimeLimitExceeded\(0\.6\)"):
        run_eagerly(workflow).get()


def test_a_soft_limit_not_before_the_hard_one_is_refused_with_its_path() -> None:
    with pytest.raises(
        InvalidWorkflow, match=r"options: softTimeout \(5\) must be shorter than timeout \(5\)"
    ):
        soft_cleanup.s(1).set(soft_timeout=5, timeout=5).to_workflow("w")
