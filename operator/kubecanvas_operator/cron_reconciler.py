"""CronWorkflows: start Workflows on schedule, as Celery beat does, the Kubernetes way.

`CronReconciler.reconcile` reads one CronWorkflow and the Workflows it started, asks
`kubecanvas.scheduling.decide` what to do now, and does it: create the run of a due
slot, revoke runs (concurrencyPolicy Replace), delete runs beyond the history limits,
write the status and post Events. It returns when to look again; the schedule task in
`cronhandlers` sleeps until then or until news arrives.

Runs are created through the API, as a user would: the Workflow handlers run them.
They are named after their slot, so creating a slot's run twice (a restart between
creating it and writing the status) is refused with AlreadyExists and harmless. They
are owned by the CronWorkflow (a controller owner reference) and go with it when it is
deleted.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubecanvas.check import checked_cron_spec
from kubecanvas.errors import InvalidWorkflow, KubeApiError
from kubecanvas.resources import (
    API_VERSION,
    CRON_LABEL,
    CRON_WORKFLOW,
    SCHEDULED_AT_ANNOTATION,
    WORKFLOW,
    label_value,
)
from kubecanvas.scheduling import (
    Decision,
    Memory,
    Run,
    SkipReason,
    decide,
    decide_invalid,
    format_slot,
    parse_slot,
    run_spec,
    slot_from_name,
)

__all__ = [
    "CronApi",
    "CronReconciler",
    "ReconcileResult",
    "owner_uid",
    "run_of",
    "workflow_manifest",
]

logger = logging.getLogger(__name__)

RETRY_SECONDS = 10.0  # after a failed call, look again this soon

Notifier = Callable[[Mapping[str, Any], str, str, str], None]
"""(object reference, Normal|Warning, reason, message): EventPoster.post's shape."""


class CronApi(Protocol):
    """The calls the reconciler makes (KubeApi has them; tests pass a fake)."""

    async def get_cronworkflow(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def patch_cronworkflow_status(self, namespace: str, name: str, status: dict[str, Any]) -> bool: ...

    async def list_workflows(self, namespace: str, label_selector: str) -> list[dict[str, Any]]: ...

    async def create_workflow(self, body: dict[str, Any]) -> bool: ...

    async def patch_workflow(self, namespace: str, name: str, patch: dict[str, Any]) -> bool: ...

    async def delete_workflow(self, namespace: str, name: str, uid: str) -> None: ...


@dataclass
class ReconcileResult:
    """What one reconciliation found, for the schedule task that called it."""

    wake_at: float | None  # epoch seconds; None: only news (a spec change, a run's phase) wakes it
    gone: bool = False  # the CronWorkflow is deleted (or being deleted): stop
    generation: int | None = None
    phases: dict[str, str | None] = field(default_factory=dict)  # run name -> phase, as seen


class CronReconciler:
    def __init__(self, api: CronApi, notify: Notifier, clock: Callable[[], float] = time.time) -> None:
        self.api = api
        self.notify = notify
        self.clock = clock

    async def reconcile(self, namespace: str, name: str, uid: str | None = None) -> ReconcileResult:
        body = await self.api.get_cronworkflow(namespace, name)
        metadata = (body or {}).get("metadata") or {}
        if body is None or (uid and metadata.get("uid") != uid) or metadata.get("deletionTimestamp"):
            return ReconcileResult(wake_at=None, gone=True)
        uid = str(metadata["uid"])
        children = await self.api.list_workflows(namespace, f"{CRON_LABEL}={label_value(name)}")
        runs = tuple(run_of(child) for child in children if owner_uid(child) == uid)
        memory = _memory(body, runs, self.clock())
        outcome = ReconcileResult(
            wake_at=None, generation=metadata.get("generation"), phases={run.name: run.phase for run in runs}
        )
        reference = _reference(body)
        status = body.get("status") or {}

        try:
            spec = checked_cron_spec(body.get("spec"))
        except InvalidWorkflow as error:
            decision = decide_invalid(memory, [str(problem) for problem in error.problems])
            if status.get("message") != decision.message or status.get("phase") != decision.phase:
                self.notify(reference, "Warning", "InvalidCronWorkflow", decision.message)
            await self._write_status(body, decision)
            return outcome

        decision = decide(name, spec, memory, self.clock())
        for run_name in decision.revoke:
            await self.api.patch_workflow(namespace, run_name, {"spec": {"revoke": True}})
        if decision.start is not None:
            decision = await self._start(body, decision, memory, outcome)
        if decision.skip is not None and decision.skip.slot != parse_slot(status.get("lastSkippedTime")):
            if decision.skip.reason == SkipReason.FORBID:
                self.notify(reference, "Normal", "RunSkipped", decision.skip.message)
            elif decision.skip.reason == SkipReason.DEADLINE:
                self.notify(reference, "Warning", "MissedSchedule", decision.skip.message)
        for run in decision.delete:
            await self._delete(namespace, run)
            outcome.phases.pop(run.name, None)
        await self._write_status(body, decision)
        if outcome.wake_at is None:
            outcome.wake_at = decision.next_schedule
        return outcome

    async def _start(
        self, body: Mapping[str, Any], decision: Decision, memory: Memory, outcome: ReconcileResult
    ) -> Decision:
        """Create the due slot's run; on failure, the decision as if it had not been due."""
        name, slot = decision.run_name or "", decision.start or 0
        reference = _reference(body)
        try:
            created = await self.api.create_workflow(workflow_manifest(body, name, slot))
        except KubeApiError as error:
            message = f"cannot start {name} for {format_slot(slot)}: {error}"
            self.notify(reference, "Warning", "RunNotStarted", message)
            outcome.wake_at = self.clock() + RETRY_SECONDS  # the slot is retried until its deadline
            started = [memory.last_schedule, *(run.slot for run in memory.runs)]
            return dataclasses.replace(
                decision,
                start=None,
                run_name=None,
                active=tuple(run for run in decision.active if run != name),
                last_schedule=max((time for time in started if time is not None), default=None),
                message=message,
            )
        outcome.phases[name] = None
        if created:
            self._announce_start(reference, decision)
        else:
            logger.info("%s/%s exists: its slot was started before", body["metadata"]["namespace"], name)
        return decision

    def _announce_start(self, reference: Mapping[str, Any], decision: Decision) -> None:
        self.notify(reference, "Normal", "RunStarted", decision.message)
        if decision.missed:
            self.notify(
                reference,
                "Warning",
                "MissedSchedules",
                f"{decision.missed} slot(s) before {format_slot(decision.start or 0)} were missed "
                "(the operator was away); only the latest ran",
            )

    async def _delete(self, namespace: str, run: Run) -> None:
        if run.uid is None:
            return
        try:
            await self.api.delete_workflow(namespace, run.name, run.uid)
        except KubeApiError as error:
            if error.status != 409:  # 409: a new object of that name, not ours to delete
                raise
        logger.info("deleted %s/%s (%s): beyond the history limit", namespace, run.name, run.phase)

    async def _write_status(self, body: Mapping[str, Any], decision: Decision) -> None:
        metadata = body["metadata"]
        wanted = {**decision.status(), "observedGeneration": metadata.get("generation")}
        current = body.get("status") or {}
        if all(current.get(key) == value for key, value in wanted.items()):
            return
        await self.api.patch_cronworkflow_status(metadata["namespace"], metadata["name"], wanted)


# ---------------------------------------------------------------------- helpers


def workflow_manifest(cron: Mapping[str, Any], name: str, slot: int) -> dict[str, Any]:
    """The Workflow of one slot: the template, labelled, annotated and owned."""
    metadata = cron["metadata"]
    spec = run_spec(cron)
    return {
        "apiVersion": API_VERSION,
        "kind": WORKFLOW.kind,
        "metadata": {
            "name": name,
            "namespace": metadata["namespace"],
            "labels": {CRON_LABEL: label_value(metadata["name"])},
            "annotations": {SCHEDULED_AT_ANNOTATION: format_slot(slot)},
            "ownerReferences": [CRON_WORKFLOW.owner_reference(metadata["name"], metadata["uid"])],
        },
        "spec": spec,
    }


def owner_uid(workflow: Mapping[str, Any]) -> str | None:
    """The uid of the CronWorkflow controlling a Workflow, if any."""
    for reference in (workflow.get("metadata") or {}).get("ownerReferences") or []:
        if reference.get("kind") == CRON_WORKFLOW.kind and reference.get("controller"):
            return str(reference.get("uid"))
    return None


def run_of(workflow: Mapping[str, Any]) -> Run:
    metadata = workflow.get("metadata") or {}
    status = workflow.get("status") or {}
    name = str(metadata.get("name"))
    slot = parse_slot((metadata.get("annotations") or {}).get(SCHEDULED_AT_ANNOTATION))
    return Run(
        name=name,
        slot=slot if slot is not None else slot_from_name(name),
        phase=status.get("phase"),
        created_at=parse_slot(metadata.get("creationTimestamp")) or 0.0,
        finished_at=parse_slot(status.get("finishedAt")),
        revoking=bool((workflow.get("spec") or {}).get("revoke")),
        uid=metadata.get("uid"),
    )


def _memory(body: Mapping[str, Any], runs: tuple[Run, ...], now: float) -> Memory:
    status = body.get("status") or {}
    return Memory(
        created_at=parse_slot(body["metadata"].get("creationTimestamp")) or now,
        last_schedule=parse_slot(status.get("lastScheduleTime")),
        last_skipped=parse_slot(status.get("lastSkippedTime")),
        last_successful=parse_slot(status.get("lastSuccessfulTime")),
        phase=status.get("phase"),
        schedule_text=status.get("schedule"),
        message=status.get("message"),
        runs=runs,
    )


def _reference(body: Mapping[str, Any]) -> dict[str, Any]:
    metadata = body["metadata"]
    return {
        "apiVersion": body.get("apiVersion", API_VERSION),
        "kind": body.get("kind", CRON_WORKFLOW.kind),
        "metadata": {key: metadata.get(key) for key in ("name", "namespace", "uid")},
    }
