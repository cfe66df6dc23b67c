"""Celery's publish retry for creating a Workflow (client/publishing.py)."""

from __future__ import annotations

from typing import Any

import pytest

from kubecanvas.client.publishing import RetryPolicy, create_with_retries
from kubecanvas.errors import KubeApiError


def script(*outcomes: Any) -> Any:
    calls: list[Any] = list(outcomes)

    def create() -> dict[str, Any]:
        outcome = calls.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return dict(outcome)

    create.left = calls  # type: ignore[attr-defined]
    return create


def test_an_api_server_away_for_a_moment_is_tried_again_with_celerys_waits() -> None:
    waits: list[float] = []
    create = script(KubeApiError(0, "refused"), KubeApiError(503, "x"), {"metadata": {"name": "w"}})
    body = create_with_retries(create, lambda: {}, RetryPolicy.of(True, None), waits.append)
    assert body == {"metadata": {"name": "w"}}
    assert waits == [0.0, 0.2]


def test_celerys_default_gives_up_after_three_retries() -> None:
    create = script(*[KubeApiError(0, "refused")] * 5)
    with pytest.raises(KubeApiError, match="refused"):
        create_with_retries(create, lambda: {}, RetryPolicy.of(True, None), lambda _: None)
    assert len(create.left) == 1  # 1 try + 3 retries


def test_a_refusal_or_retry_false_is_not_retried() -> None:
    with pytest.raises(KubeApiError, match="invalid"):
        create_with_retries(
            script(KubeApiError(422, "invalid"), {}), lambda: {}, RetryPolicy(), lambda _: None
        )
    with pytest.raises(KubeApiError, match="refused"):
        create_with_retries(
            script(KubeApiError(0, "refused"), {}), lambda: {}, RetryPolicy.of(False, None), lambda _: None
        )


def test_a_retried_create_that_had_landed_is_read_back() -> None:
    create = script(KubeApiError(0, "reset"), KubeApiError(409, "exists"))
    body = create_with_retries(create, lambda: {"metadata": {"name": "read"}}, RetryPolicy(), lambda _: None)
    assert body == {"metadata": {"name": "read"}}


def test_a_policy_is_celerys_and_says_what_it_does_not_know() -> None:
    policy = RetryPolicy.of(
        True, {"max_retries": 5, "interval_start": 1, "interval_step": 2, "interval_max": 4}
    )
    assert [policy.wait(n) for n in (1, 2, 3)] == [1, 3, 4]
    with pytest.raises(TypeError, match=r"unknown keys \['interval'\]"):
        RetryPolicy.of(True, {"interval": 1})
