"""`Task.retry_rule()`: the decorator's retry policy in the engine's vocabulary."""

from __future__ import annotations

import pytest
from sdk_tasks import ExpectedException, backing_off, configured, double, retrying

from kubecanvas.engine.retries import retry_rule
from kubecanvas.sdk.tasks import UNBOUNDED_RETRIES


def test_defaults_are_celerys_and_retry_nothing_automatically() -> None:
    assert double.retry_rule() == {
        "max": 3,
        "delay": 180.0,
        "backoff": 1.0,
        "backoffMax": None,
        "jitter": False,
        "autoretryFor": [],
    }
    rule = retry_rule(None, double.retry_rule())
    assert not rule.automatic
    assert rule.max == 3
    assert rule.countdown(1, "t0") == 180.0


def test_max_retries_and_delay() -> None:
    assert retrying.retry_rule()["max"] == 5
    assert retrying.retry_rule()["delay"] == 7.0


def test_backoff_true_is_factor_one_with_full_jitter() -> None:
    assert backing_off.retry_rule() == {
        "max": 3,
        "delay": 1.0,
        "backoff": 2.0,
        "backoffMax": 600.0,
        "jitter": True,
        "autoretryFor": ["ValueError", "sdk_tasks.ExpectedException"],
    }
    assert ExpectedException.__module__ == "sdk_tasks"
    rule = retry_rule(None, backing_off.retry_rule())
    assert rule.automatic
    assert rule.autoretry_for == ("ValueError", "sdk_tasks.ExpectedException")
    assert 0 <= rule.countdown(3, "t0") <= 4.0


@pytest.mark.parametrize(
    ("retries", "expected"), [(0, 5.0), (1, 10.0), (2, 20.0), (3, 40.0), (4, 60.0), (9, 60.0)]
)
def test_backoff_factor_matches_celerys_countdown(retries: int, expected: float) -> None:
    """Celery: countdown = min(factor * 2**retries, retry_backoff_max), `retries` counted before this one."""
    assert configured.retry_rule() == {
        "max": UNBOUNDED_RETRIES,
        "delay": 5.0,
        "backoff": 2.0,
        "backoffMax": 60.0,
        "jitter": False,
        "autoretryFor": ["KeyError"],
    }
    rule = retry_rule(None, configured.retry_rule())
    assert rule.countdown(retries + 1, "t0") == expected


def test_the_workflow_wins_field_by_field() -> None:
    rule = retry_rule({"max": 1}, backing_off.retry_rule())
    assert rule.max == 1
    assert rule.delay == 1.0
    assert rule.backoff == 2.0
    assert rule.autoretry_for == ("ValueError", "sdk_tasks.ExpectedException")
