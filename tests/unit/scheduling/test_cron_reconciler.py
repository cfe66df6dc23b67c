"""The operator's CronWorkflow reconciler against a fake API: what it creates, patches, deletes and says."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from kubecanvas.errors import KubeApiError
from kubecanvas.resources import CRON_LABEL, SCHEDULED_AT_ANNOTATION
from kubecanvas.scheduling.run_names import format_slot
from kubecanvas_operator.cron_reconciler import CronReconciler

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
NS = "team"


class FakeApi:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.cron: dict[str, Any] | None = {
            "apiVersion": "kubecanvas.io/v1alpha1",
            "kind": "CronWorkflow",
            "metadata": {
                "name": "beat",
                "namespace": NS,
                "uid": "cron-uid",
                "generation": 1,
                "creationTimestamp": format_slot(T0 - 3),
            },
            "spec": spec,
        }
        self.workflows: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, ...]] = []
        self.refuse_create: KubeApiError | None = None

    async def get_cronworkflow(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.cron)

    async def patch_cronworkflow_status(self, namespace: str, name: str, status: dict[str, Any]) -> bool:
        assert self.cron is not None
        merged = {**(self.cron.get("status") or {}), **status}
        self.cron["status"] = {key: value for key, value in merged.items() if value is not None}
        self.calls.append(("status",))
        return True

    async def list_workflows(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        key, _, value = label_selector.partition("=")
        return [
            copy.deepcopy(body)
            for body in self.workflows.values()
            if body["metadata"]["labels"].get(key) == value
        ]

    async def create_workflow(self, body: dict[str, Any]) -> bool:
        if self.refuse_create is not None:
            raise self.refuse_create
        name = body["metadata"]["name"]
        self.calls.append(("create", name))
        if name in self.workflows:
            return False
        self.workflows[name] = {
            **copy.deepcopy(body),
            "metadata": {**body["metadata"], "uid": f"uid-{name}", "creationTimestamp": format_slot(T0)},
        }
        return True

    async def patch_workflow(self, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        self.calls.append(("patch", name, repr(patch)))
        self.workflows[name]["spec"].update(patch["spec"])
        return True

    async def delete_workflow(self, namespace: str, name: str, uid: str) -> None:
        assert self.workflows[name]["metadata"]["uid"] == uid
        self.calls.append(("delete", name))
        del self.workflows[name]

    def finish(self, name: str, phase: str, at: float) -> None:
        self.workflows[name]["status"] = {"phase": phase, "finishedAt": format_slot(at)}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def setup(
    spec: dict[str, Any], now: float
) -> tuple[FakeApi, CronReconciler, Clock, list[tuple[str, str, str]]]:
    api = FakeApi(spec)
    events: list[tuple[str, str, str]] = []
    clock = Clock(now)
    reconciler = CronReconciler(
        api,
        notify=lambda reference, kind, reason, message: events.append((kind, reason, message)),
        clock=clock,
    )
    return api, reconciler, clock, events


def reconcile(reconciler: CronReconciler) -> Any:
    return asyncio.run(reconciler.reconcile(NS, "beat", "cron-uid"))


SPEC = {"schedule": {"every": "10s"}, "workflowSpec": {"canvas": {"task": "conftasks.add", "args": [1, 2]}}}


def test_a_due_slot_becomes_an_owned_labelled_workflow() -> None:
    api, reconciler, _clock, events = setup(SPEC, T0 + 0.05)
    outcome = reconcile(reconciler)
    name = f"beat-{T0}"
    body = api.workflows[name]
    assert body["spec"] == SPEC["workflowSpec"]
    assert body["metadata"]["labels"] == {CRON_LABEL: "beat"}
    assert body["metadata"]["annotations"] == {SCHEDULED_AT_ANNOTATION: "2026-01-01T00:00:00Z"}
    assert body["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "kubecanvas.io/v1alpha1",
            "kind": "CronWorkflow",
            "name": "beat",
            "uid": "cron-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert api.cron is not None
    status = api.cron["status"]
    assert status["lastScheduleTime"] == "2026-01-01T00:00:00Z"
    assert status["nextScheduleTime"] == "2026-01-01T00:00:10Z"
    assert status["active"] == [name]
    assert status["activeCount"] == 1
    assert status["phase"] == "Scheduled"
    assert status["observedGeneration"] == 1
    assert events == [("Normal", "RunStarted", f"started {name} for 2026-01-01T00:00:00Z")]
    assert outcome.wake_at == T0 + 10
    assert outcome.phases == {name: None}


def test_a_restart_before_the_status_was_written_does_not_fire_twice() -> None:
    api, reconciler, clock, events = setup(SPEC, T0 + 0.05)
    reconcile(reconciler)
    assert api.cron is not None
    api.cron.pop("status")  # the operator died before writing it
    api.workflows[f"beat-{T0}"]["metadata"]["annotations"] = {}  # and the slot is only in the name
    clock.now = T0 + 5
    reconcile(reconciler)
    assert [call for call in api.calls if call[0] == "create"] == [("create", f"beat-{T0}")]
    assert api.cron["status"]["lastScheduleTime"] == "2026-01-01T00:00:00Z"
    assert len(events) == 1


def test_a_lost_slot_is_refused_by_the_api_server_and_that_is_fine() -> None:
    api, reconciler, _clock, events = setup(SPEC, T0 + 0.05)
    api.workflows[f"beat-{T0}"] = {"metadata": {"name": f"beat-{T0}", "labels": {}}, "spec": {}}  # not listed
    reconcile(reconciler)
    assert ("create", f"beat-{T0}") in api.calls
    assert events == []  # nothing was started
    assert api.cron is not None
    assert api.cron["status"]["lastScheduleTime"] == "2026-01-01T00:00:00Z"


def test_status_is_not_rewritten_when_nothing_changed() -> None:
    api, reconciler, clock, _events = setup(SPEC, T0 + 0.05)
    reconcile(reconciler)
    writes = api.calls.count(("status",))
    clock.now = T0 + 3
    reconcile(reconciler)
    assert api.calls.count(("status",)) == writes


def test_history_beyond_the_limits_is_deleted() -> None:
    api, reconciler, clock, _events = setup({**SPEC, "successfulRunsHistoryLimit": 1}, T0 + 0.05)
    for step in range(3):
        clock.now = T0 + 10 * step + 0.05
        reconcile(reconciler)
        api.finish(f"beat-{T0 + 10 * step}", "Succeeded", T0 + 10 * step + 1)
    clock.now = T0 + 25
    reconcile(reconciler)
    assert sorted(api.workflows) == [f"beat-{T0 + 20}"]
    assert api.cron is not None
    assert api.cron["status"]["lastSuccessfulTime"] == "2026-01-01T00:00:21Z"
    assert api.cron["status"]["active"] == []


def test_replace_revokes_through_the_spec() -> None:
    api, reconciler, clock, _events = setup({**SPEC, "concurrencyPolicy": "Replace"}, T0 + 0.05)
    reconcile(reconciler)
    clock.now = T0 + 10.05
    reconcile(reconciler)
    assert ("patch", f"beat-{T0}", repr({"spec": {"revoke": True}})) in api.calls
    assert api.workflows[f"beat-{T0}"]["spec"]["revoke"] is True
    assert f"beat-{T0 + 10}" in api.workflows


def test_forbid_says_why_it_skipped() -> None:
    api, reconciler, clock, events = setup({**SPEC, "concurrencyPolicy": "Forbid"}, T0 + 0.05)
    reconcile(reconciler)
    clock.now = T0 + 10.05
    reconcile(reconciler)
    assert f"beat-{T0 + 10}" not in api.workflows
    assert events[-1] == (
        "Normal",
        "RunSkipped",
        f"skipped 2026-01-01T00:00:10Z: beat-{T0} still running (concurrencyPolicy Forbid)",
    )
    assert api.cron is not None
    assert api.cron["status"]["lastSkippedTime"] == "2026-01-01T00:00:10Z"


def test_an_invalid_spec_is_reported_once() -> None:
    api, reconciler, clock, events = setup({**SPEC, "schedule": "*/5 * * *"}, T0 + 0.05)
    outcome = reconcile(reconciler)
    clock.now += 30
    reconcile(reconciler)
    message = (
        "spec.schedule: '*/5 * * *' is not a valid cron expression: expected 5 fields "
        "(minute hour day-of-month month day-of-week), got 4"
    )
    assert api.cron is not None
    assert api.cron["status"]["phase"] == "Invalid"
    assert api.cron["status"]["message"] == message
    assert events == [("Warning", "InvalidCronWorkflow", message)]
    assert api.workflows == {}
    assert outcome.wake_at is None  # only a spec change wakes it


def test_a_refused_creation_is_retried_soon() -> None:
    api, reconciler, _clock, events = setup(SPEC, T0 + 0.05)
    api.refuse_create = KubeApiError(403, "workflows is forbidden")
    outcome = reconcile(reconciler)
    assert events == [
        (
            "Warning",
            "RunNotStarted",
            f"cannot start beat-{T0} for 2026-01-01T00:00:00Z: workflows is forbidden",
        )
    ]
    assert api.cron is not None
    assert "lastScheduleTime" not in api.cron["status"]
    assert api.cron["status"]["active"] == []
    assert outcome.wake_at == pytest.approx(T0 + 10.05)


def test_a_deleted_cronworkflow_stops_its_daemon() -> None:
    api, reconciler, _clock, _events = setup(SPEC, T0 + 0.05)
    api.cron = None
    assert reconcile(reconciler).gone
