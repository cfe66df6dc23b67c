"""What a CronWorkflow should do now: start a run, skip a slot, revoke, trim history.

`decide` is the whole scheduling policy as one pure function of the spec, what the
CronWorkflow remembers (its status and its runs) and the time. The operator gathers
the inputs, carries out the Decision and writes `Decision.status()`.

The rules, as Kubernetes CronJobs have them unless said otherwise:

- A slot is due when it is the latest slot at or before now and later than every slot
  already handled (started or skipped) and than the CronWorkflow's creation. Only the
  latest missed slot runs: an operator back after an hour runs one catch-up run, not
  sixty, and says how many it passed over.
- `startingDeadlineSeconds`: a due slot more than that late is skipped.
- `suspend`: no run starts. Unlike a CronJob, unsuspending does not run a slot that
  passed while suspended: the next run is the next slot. The same holds when the
  schedule (or its time zone) changes, or an invalid spec is fixed.
- `concurrencyPolicy`: Allow starts regardless; Forbid skips the slot while a run is
  active (the skip is final, the slot is not retried when the run ends); Replace
  revokes the active runs (`spec.revoke: true`) and starts the new one.
- History: finished runs beyond `successfulRunsHistoryLimit` (Succeeded) and
  `failedRunsHistoryLimit` (Failed or Revoked) are deleted, oldest first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kubecanvas.scheduling.run_names import format_slot, run_name
from kubecanvas.scheduling.spec import CronSpec

__all__ = [
    "FAILED_PHASES",
    "FINISHED_PHASES",
    "MISSED_SLOTS_COUNTED",
    "CronPhase",
    "Decision",
    "Memory",
    "Run",
    "Skip",
    "SkipReason",
    "decide",
    "decide_invalid",
    "history_to_delete",
]

FINISHED_PHASES = frozenset({"Succeeded", "Failed", "Revoked"})
FAILED_PHASES = frozenset({"Failed", "Revoked"})
MISSED_SLOTS_COUNTED = 100  # past this, a message says "100+" rather than counting on


class CronPhase(StrEnum):
    SCHEDULED = "Scheduled"
    SUSPENDED = "Suspended"
    INVALID = "Invalid"


class SkipReason(StrEnum):
    FORBID = "Forbid"  # a run was still active
    DEADLINE = "StartingDeadline"  # found too late
    RESUMED = "Resumed"  # passed while suspended, invalid, or under another schedule


@dataclass(frozen=True, slots=True)
class Run:
    """One Workflow a CronWorkflow started, as the operator last saw it."""

    name: str
    slot: float | None  # the time it was scheduled for
    phase: str | None = None  # None: no status yet
    created_at: float = 0.0
    finished_at: float | None = None
    revoking: bool = False  # spec.revoke is already true
    uid: str | None = None

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED_PHASES

    @property
    def order(self) -> float:
        return self.slot if self.slot is not None else self.created_at


@dataclass(frozen=True, slots=True)
class Memory:
    """What the CronWorkflow remembers: its status as last written, and its runs."""

    created_at: float
    last_schedule: float | None = None
    last_skipped: float | None = None
    last_successful: float | None = None
    phase: str | None = None
    schedule_text: str | None = None
    message: str | None = None
    runs: tuple[Run, ...] = ()


@dataclass(frozen=True, slots=True)
class Skip:
    slot: int
    reason: SkipReason
    message: str


@dataclass(frozen=True, slots=True)
class Decision:
    phase: CronPhase
    message: str
    schedule_text: str | None = None
    start: int | None = None  # the slot to start a run for
    run_name: str | None = None
    revoke: tuple[str, ...] = ()
    delete: tuple[Run, ...] = ()
    skip: Skip | None = None
    missed: int = 0  # earlier slots passed over in favour of `start`
    active: tuple[str, ...] = ()
    last_schedule: float | None = None
    last_skipped: float | None = None
    last_successful: float | None = None
    next_schedule: int | None = None
    problems: tuple[str, ...] = field(default=())

    def status(self) -> dict[str, Any]:
        """The CronWorkflow's status as a merge patch (None removes a field)."""
        return {
            "phase": self.phase.value,
            "schedule": self.schedule_text,
            "active": list(self.active),
            "activeCount": len(self.active),
            "lastScheduleTime": _time(self.last_schedule),
            "lastSkippedTime": _time(self.last_skipped),
            "lastSuccessfulTime": _time(self.last_successful),
            "nextScheduleTime": _time(self.next_schedule),
            "message": self.message,
            "problems": list(self.problems) or None,
        }


def decide(cron_name: str, spec: CronSpec, memory: Memory, now: float) -> Decision:
    model, schedule = spec.model, spec.schedule
    runs = sorted(memory.runs, key=lambda run: run.order)
    active = [run for run in runs if not run.finished]
    last_schedule = _latest(memory.last_schedule, *(run.slot for run in runs))
    last_skipped = memory.last_skipped
    last_successful = _latest(
        memory.last_successful, *(run.finished_at for run in runs if run.phase == "Succeeded")
    )
    delete = history_to_delete(runs, model.successful_runs_history_limit, model.failed_runs_history_limit)
    common: dict[str, Any] = {
        "schedule_text": spec.schedule_text,
        "delete": delete,
        "last_successful": last_successful,
    }

    if model.suspend:
        return Decision(
            phase=CronPhase.SUSPENDED,
            message="suspended: no new runs until spec.suspend is false",
            active=tuple(run.name for run in active),
            last_schedule=last_schedule,
            last_skipped=last_skipped,
            **common,
        )

    handled = _latest(math.floor(memory.created_at), last_schedule, last_skipped) or 0.0
    latest = schedule.latest_at_or_before(now)
    next_schedule = schedule.next_after(now)
    unchanged = memory.phase == CronPhase.SCHEDULED and memory.schedule_text in (None, spec.schedule_text)
    skip: Skip | None = None
    due: int | None = None

    if latest is not None and latest > handled:
        lateness = math.floor(now - latest)
        deadline = model.starting_deadline_seconds
        if not unchanged and memory.phase is not None:
            why = {
                CronPhase.SUSPENDED.value: "while suspended",
                CronPhase.INVALID.value: "while the spec was invalid",
            }.get(memory.phase or "", "before the schedule changed")
            skip = Skip(latest, SkipReason.RESUMED, f"skipped {format_slot(latest)}: it passed {why}")
        elif deadline is not None and lateness > deadline:
            skip = Skip(
                latest,
                SkipReason.DEADLINE,
                f"missed {format_slot(latest)} by {lateness}s, more than "
                f"startingDeadlineSeconds ({deadline})",
            )
        elif active and model.concurrency_policy == "Forbid":
            names = ", ".join(run.name for run in active)
            skip = Skip(
                latest,
                SkipReason.FORBID,
                f"skipped {format_slot(latest)}: {names} still running (concurrencyPolicy Forbid)",
            )
        else:
            due = latest
    if skip is not None:
        last_skipped = skip.slot

    if due is None:
        if skip is not None:
            message = skip.message
        elif unchanged and memory.message:
            message = memory.message  # nothing new: the last news stands
        else:
            message = _waiting(next_schedule)
        return Decision(
            phase=CronPhase.SCHEDULED,
            message=message,
            skip=skip,
            active=tuple(run.name for run in active),
            last_schedule=last_schedule,
            last_skipped=last_skipped,
            next_schedule=next_schedule,
            **common,
        )

    missed = sum(1 for _ in schedule.slots_between(handled, due, limit=MISSED_SLOTS_COUNTED))
    name = run_name(cron_name, due)
    revoke: tuple[str, ...] = ()
    if model.concurrency_policy == "Replace":
        revoke = tuple(run.name for run in active if not run.revoking)
    message = f"started {name} for {format_slot(due)}"
    if revoke:
        message += f", revoking {', '.join(revoke)} (concurrencyPolicy Replace)"
    if missed:
        shown = f"{missed}+" if missed >= MISSED_SLOTS_COUNTED else str(missed)
        message += f"; {shown} earlier slot(s) were missed and only the latest ran"
    return Decision(
        phase=CronPhase.SCHEDULED,
        message=message,
        start=due,
        run_name=name,
        revoke=revoke,
        missed=missed,
        active=(*(run.name for run in active), name),
        last_schedule=due,
        last_skipped=last_skipped,
        next_schedule=next_schedule,
        **common,
    )


def decide_invalid(memory: Memory, problems: list[str]) -> Decision:
    """A spec that cannot be scheduled: report it, start nothing, delete nothing."""
    return Decision(
        phase=CronPhase.INVALID,
        message="; ".join(problems)[:1000] or "invalid CronWorkflow",
        active=tuple(run.name for run in sorted(memory.runs, key=lambda run: run.order) if not run.finished),
        last_schedule=memory.last_schedule,
        last_skipped=memory.last_skipped,
        last_successful=memory.last_successful,
        schedule_text=None,
        problems=tuple(problems),
    )


def history_to_delete(runs: list[Run], successful_limit: int, failed_limit: int) -> tuple[Run, ...]:
    """Finished runs beyond the limits, oldest first; active runs are never deleted."""
    newest_first = sorted((run for run in runs if run.finished), key=lambda run: run.order, reverse=True)
    succeeded = [run for run in newest_first if run.phase == "Succeeded"]
    failed = [run for run in newest_first if run.phase in FAILED_PHASES]
    extra = succeeded[successful_limit:] + failed[failed_limit:]
    return tuple(sorted(extra, key=lambda run: run.order))


def _waiting(next_schedule: int | None) -> str:
    if next_schedule is None:
        return "the schedule does not fire again"
    return f"next run at {format_slot(next_schedule)}"


def _latest(*times: float | None) -> float | None:
    known = [time for time in times if time is not None]
    return max(known) if known else None


def _time(moment: float | None) -> str | None:
    return format_slot(moment) if moment is not None else None
