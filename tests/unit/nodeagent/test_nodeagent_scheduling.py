"""Whether a pod fits this node, in kube-scheduler's words."""

from __future__ import annotations

from kubecanvas_nodeagent.scheduling import unschedulable_reason

LABELS = {"kubernetes.io/hostname": "node", "disk": "ssd"}


def test_a_pod_fits_while_there_is_room_and_the_selector_matches() -> None:
    assert unschedulable_reason({"spec": {"nodeSelector": {"disk": "ssd"}}}, LABELS, free_slots=1) is None
    assert unschedulable_reason({"spec": {}}, LABELS, free_slots=1) is None


def test_capacity_and_selector_mismatches() -> None:
    assert (
        unschedulable_reason({"spec": {}}, LABELS, free_slots=0)
        == "0/1 nodes are available: 1 Too many pods."
    )
    mismatch = unschedulable_reason({"spec": {"nodeSelector": {"disk": "hdd"}}}, LABELS, free_slots=5)
    assert mismatch == "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
