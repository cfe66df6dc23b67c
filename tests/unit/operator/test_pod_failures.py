"""What Kubernetes says about a task pod that never starts, as a task failure: pure JSON in,
failure out (operator/failures.py)."""

from __future__ import annotations

from typing import Any

from kubecanvas_operator.failures import pod_start_failure, unschedulable_since

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
UNSCHEDULABLE = "0/1 nodes are available: 1 Insufficient memory."


def unschedulable_pod(since: str = "2027-01-15T07:59:00Z") -> dict[str, Any]:
    condition = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": UNSCHEDULABLE,
        "lastTransitionTime": since,
    }
    return {"metadata": {"name": "p"}, "status": {"phase": "Pending", "conditions": [condition]}}


def test_an_unschedulable_pod_is_a_failure_only_after_the_timeout() -> None:
    pod = unschedulable_pod()  # unschedulable for 60 s at NOW
    assert unschedulable_since(pod) == (NOW - 60, UNSCHEDULABLE)
    assert pod_start_failure(pod, NOW, unschedulable_after=300) is None

    failure = pod_start_failure(pod, NOW, unschedulable_after=30)

    assert failure is not None
    assert not failure.lost
    assert failure.error.type == "Unschedulable"
    assert UNSCHEDULABLE in failure.error.message
    assert "30s" in failure.error.message


def test_a_scheduled_pod_is_not_unschedulable() -> None:
    pod = {"status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}}
    assert unschedulable_since(pod) is None
    assert pod_start_failure(pod, NOW, unschedulable_after=0) is None


def test_an_image_that_cannot_be_pulled_names_the_kubelets_reason() -> None:
    waiting = {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "nope:1"'}
    pod = {"status": {"containerStatuses": [{"state": {"waiting": waiting}}]}}

    failure = pod_start_failure(pod, NOW, unschedulable_after=300)

    assert failure is not None
    assert failure.error.type == "ImagePullBackOff"
    assert 'Back-off pulling image "nope:1"' in failure.error.message
