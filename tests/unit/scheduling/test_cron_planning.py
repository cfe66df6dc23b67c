"""What a CronWorkflow does now: due slots, deadlines, restarts, concurrency, suspension, history."""

from __future__ import annotations

from typing import Any

import pytest

from kubecanvas.scheduling import (
    CronPhase,
    Memory,
    Run,
    SkipReason,
    decide,
    decide_invalid,
    history_to_delete,
    parse_cron_spec,
    run_name,
    slot_from_name,
)
from kubecanvas.scheduling.run_names import MAX_NAME, format_slot, parse_slot
from kubecanvas.scheduling.spec import CronSpec

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, a multiple of every interval used here
TEMPLATE = {"canvas": {"task": "conftasks.add", "args": [1, 2]}}


def spec(**fields: Any) -> CronSpec:
    return parse_cron_spec({"schedule": {"every": "10s"}, "workflowSpec": TEMPLATE, **fields})


def memory(**fields: Any) -> Memory:
    return Memory(**{"created_at": T0 - 3, "phase": "Scheduled", **fields})


def run(slot: int, phase: str | None = None, **fields: Any) -> Run:
    return Run(
        name=run_name("beat", slot), slot=slot, phase=phase, created_at=slot + 0.2, uid=f"u{slot}", **fields
    )


# ------------------------------------------------------------------ due slots


def test_nothing_is_due_before_the_first_slot() -> None:
    decision = decide("beat", spec(), memory(phase=None), now=T0 - 1)
    assert decision.start is None
    assert decision.next_schedule == T0
    assert decision.message == "next run at 2026-01-01T00:00:00Z"
    assert decision.status()["nextScheduleTime"] == "2026-01-01T00:00:00Z"


def test_a_slot_is_started_once_and_named_after_itself() -> None:
    first = decide("beat", spec(), memory(phase=None), now=T0 + 0.05)
    assert first.start == T0
    assert first.run_name == f"beat-{T0}"
    assert first.active == (f"beat-{T0}",)
    assert first.last_schedule == T0
    assert first.next_schedule == T0 + 10
    assert first.missed == 0
    assert first.message == f"started beat-{T0} for 2026-01-01T00:00:00Z"
    # Woken again in the same slot: the status remembers it...
    again = decide("beat", spec(), memory(last_schedule=T0), now=T0 + 3)
    assert again.start is None
    # ...and so does the run itself, should the status write have been lost.
    lost = decide("beat", spec(), memory(runs=(run(T0),)), now=T0 + 3)
    assert lost.start is None
    assert lost.last_schedule == T0


def test_a_slot_at_or_before_creation_never_runs() -> None:
    decision = decide("beat", spec(), memory(created_at=T0 + 0.5, phase=None), now=T0 + 1)
    assert decision.start is None
    assert decision.next_schedule == T0 + 10


def test_after_an_outage_only_the_latest_missed_slot_runs() -> None:
    decision = decide("beat", spec(), memory(last_schedule=T0), now=T0 + 65)
    assert decision.start == T0 + 60
    assert decision.missed == 5  # T0+10 ... T0+50
    assert decision.message.endswith("; 5 earlier slot(s) were missed and only the latest ran")


def test_missed_slots_are_counted_up_to_a_limit() -> None:
    decision = decide("beat", spec(), memory(last_schedule=T0), now=T0 + 10 * 500 + 1)
    assert decision.missed == 100
    assert "100+ earlier slot(s)" in decision.message


@pytest.mark.parametrize(
    ("now", "started"),
    [(T0 + 60 + 4, T0 + 60), (T0 + 60 + 5.9, T0 + 60), (T0 + 60 + 6, None)],
)
def test_a_slot_later_than_the_starting_deadline_is_skipped(now: float, started: int | None) -> None:
    decision = decide("beat", spec(startingDeadlineSeconds=5), memory(last_schedule=T0), now=now)
    assert decision.start == started
    if started is None:
        assert decision.skip is not None
        assert decision.skip.reason == SkipReason.DEADLINE
        assert decision.skip.slot == T0 + 60
        assert decision.last_skipped == T0 + 60
        assert decision.message == (
            "missed 2026-01-01T00:01:00Z by 6s, more than startingDeadlineSeconds (5)"
        )
        # The skip is final: the slot is not tried again.
        later = decide(
            "beat",
            spec(startingDeadlineSeconds=5),
            memory(last_schedule=T0, last_skipped=T0 + 60),
            now=now + 1,
        )
        assert later.start is None
        assert later.skip is None


def test_a_deadline_does_not_revive_slots_older_than_the_latest() -> None:
    # Down for a minute with a 30s deadline: the latest slot (T0+60, 5s late) runs, only it.
    decision = decide("beat", spec(startingDeadlineSeconds=30), memory(last_schedule=T0), now=T0 + 65)
    assert decision.start == T0 + 60


def test_a_cron_schedule_in_a_time_zone() -> None:
    nightly = parse_cron_spec(
        {"schedule": "30 2 * * *", "timezone": "Europe/Paris", "workflowSpec": TEMPLATE}
    )
    spring = 1_743_292_800  # 2025-03-30T00:00:00Z: Paris skips 02:00-03:00 tonight
    decision = decide("nightly", nightly, memory(created_at=spring, phase=None), now=spring + 3600 + 1)
    assert decision.start == spring + 3600  # 03:00 CEST, right after the change
    assert decision.status()["schedule"] == "30 2 * * * (Europe/Paris)"


# ------------------------------------------------------------------ concurrency


def test_allow_starts_beside_an_active_run() -> None:
    decision = decide("beat", spec(), memory(runs=(run(T0, "Running"),)), now=T0 + 10.1)
    assert decision.start == T0 + 10
    assert decision.revoke == ()
    assert decision.active == (f"beat-{T0}", f"beat-{T0 + 10}")


def test_forbid_skips_a_slot_while_a_run_is_active() -> None:
    decision = decide(
        "beat", spec(concurrencyPolicy="Forbid"), memory(runs=(run(T0, "Running"),)), now=T0 + 10.1
    )
    assert decision.start is None
    assert decision.skip is not None
    assert decision.skip.reason == SkipReason.FORBID
    assert decision.last_skipped == T0 + 10
    assert decision.last_schedule == T0
    assert decision.active == (f"beat-{T0}",)
    assert decision.message == (
        f"skipped 2026-01-01T00:00:10Z: beat-{T0} still running (concurrencyPolicy Forbid)"
    )
    assert decision.next_schedule == T0 + 20


def test_forbid_does_not_run_a_skipped_slot_when_the_run_ends() -> None:
    ended = memory(last_skipped=T0 + 10, runs=(run(T0, "Succeeded", finished_at=T0 + 12),))
    decision = decide("beat", spec(concurrencyPolicy="Forbid"), ended, now=T0 + 12.5)
    assert decision.start is None
    assert decision.active == ()


def test_forbid_starts_when_nothing_is_active() -> None:
    done = memory(runs=(run(T0, "Failed", finished_at=T0 + 2),))
    assert decide("beat", spec(concurrencyPolicy="Forbid"), done, now=T0 + 10.1).start == T0 + 10


def test_replace_revokes_the_active_runs_and_starts_the_new_one() -> None:
    busy = memory(runs=(run(T0, "Running"), run(T0 + 10, None), run(T0 - 10, "Running", revoking=True)))
    decision = decide("beat", spec(concurrencyPolicy="Replace"), busy, now=T0 + 20.1)
    assert decision.start == T0 + 20
    assert decision.revoke == (f"beat-{T0}", f"beat-{T0 + 10}")  # one already revoking is left be
    assert decision.message == (
        f"started beat-{T0 + 20} for 2026-01-01T00:00:20Z, revoking beat-{T0}, beat-{T0 + 10} "
        "(concurrencyPolicy Replace)"
    )


# ------------------------------------------------------------------ suspension and changes


def test_suspended_starts_nothing_and_has_no_next_time() -> None:
    decision = decide("beat", spec(suspend=True), memory(last_schedule=T0), now=T0 + 30)
    assert decision.phase == CronPhase.SUSPENDED
    assert decision.start is None
    assert decision.next_schedule is None
    assert decision.status()["nextScheduleTime"] is None
    assert decision.status()["phase"] == "Suspended"


def test_unsuspending_skips_the_slots_missed_meanwhile() -> None:
    resumed = decide("beat", spec(), memory(last_schedule=T0, phase="Suspended"), now=T0 + 35)
    assert resumed.start is None
    assert resumed.skip is not None
    assert resumed.skip.reason == SkipReason.RESUMED
    assert resumed.last_skipped == T0 + 30
    assert resumed.phase == CronPhase.SCHEDULED
    assert resumed.message == "skipped 2026-01-01T00:00:30Z: it passed while suspended"
    after = memory(last_schedule=T0, last_skipped=T0 + 30, phase="Scheduled", message=resumed.message)
    assert decide("beat", spec(), after, now=T0 + 40.1).start == T0 + 40


def test_a_new_schedule_does_not_run_its_past_slots() -> None:
    changed = memory(last_schedule=T0, schedule_text="every 1h")
    decision = decide("beat", spec(), changed, now=T0 + 25)
    assert decision.start is None
    assert decision.skip is not None
    assert decision.skip.message == "skipped 2026-01-01T00:00:20Z: it passed before the schedule changed"


def test_a_fixed_spec_does_not_run_slots_that_passed_while_it_was_invalid() -> None:
    fixed = memory(phase="Invalid", created_at=T0 - 100)
    decision = decide("beat", spec(), fixed, now=T0 + 5)
    assert decision.start is None
    assert decision.skip is not None
    assert decision.skip.message.endswith("it passed while the spec was invalid")


def test_an_invalid_spec_reports_its_problems_and_does_nothing() -> None:
    decision = decide_invalid(
        memory(runs=(run(T0, "Running"),)), ["spec.schedule: bad", "spec.timezone: worse"]
    )
    assert decision.phase == CronPhase.INVALID
    assert decision.message == "spec.schedule: bad; spec.timezone: worse"
    assert decision.start is None
    assert decision.delete == ()
    assert decision.next_schedule is None
    assert decision.active == (f"beat-{T0}",)
    assert decision.status()["problems"] == ["spec.schedule: bad", "spec.timezone: worse"]


def test_quiet_wake_ups_keep_the_last_news() -> None:
    news = "skipped 2026-01-01T00:00:10Z: beat-x still running (concurrencyPolicy Forbid)"
    decision = decide(
        "beat", spec(), memory(last_schedule=T0, last_skipped=T0 + 10, message=news), now=T0 + 12
    )
    assert decision.message == news


# ------------------------------------------------------------------ history


def test_history_keeps_the_newest_runs_of_each_kind() -> None:
    runs = [
        run(T0 + 0, "Succeeded"),
        run(T0 + 10, "Failed"),
        run(T0 + 20, "Succeeded"),
        run(T0 + 30, "Revoked"),
        run(T0 + 40, "Succeeded"),
        run(T0 + 50, "Running"),
        run(T0 + 60, None),
    ]
    doomed = history_to_delete(runs, successful_limit=2, failed_limit=1)
    assert [item.slot for item in doomed] == [T0 + 0, T0 + 10]
    assert [item.slot for item in history_to_delete(runs, 0, 0)] == [T0, T0 + 10, T0 + 20, T0 + 30, T0 + 40]
    assert history_to_delete(runs, 10, 10) == ()


def test_history_is_trimmed_by_every_decision() -> None:
    runs = tuple(run(T0 + 10 * index, "Succeeded", finished_at=T0 + 10 * index + 1) for index in range(5))
    decision = decide("beat", spec(successfulRunsHistoryLimit=2), memory(runs=runs), now=T0 + 40.5)
    assert [item.name for item in decision.delete] == [f"beat-{T0}", f"beat-{T0 + 10}", f"beat-{T0 + 20}"]
    assert decision.last_successful == T0 + 41
    assert decision.status()["lastSuccessfulTime"] == "2026-01-01T00:00:41Z"
    suspended = decide(
        "beat", spec(successfulRunsHistoryLimit=2, suspend=True), memory(runs=runs), now=T0 + 45
    )
    assert len(suspended.delete) == 3


# ------------------------------------------------------------------ naming


def test_run_names() -> None:
    assert run_name("nightly", 1735689600) == "nightly-1735689600"
    assert slot_from_name("nightly-1735689600") == 1735689600
    assert slot_from_name("nightly") is None
    long = "a" * 240 + "-b.c" + "d" * 9
    named = run_name(long, 1735689600)
    assert len(named) == MAX_NAME
    assert named.endswith("-1735689600")
    assert named != run_name(long[:-1] + "e", 1735689600)  # the hash keeps them apart
    assert slot_from_name(named) == 1735689600
    cut_at_a_dot = run_name("x" * 234 + "." + "y" * 20, 1735689600)  # kept: 235 characters
    assert cut_at_a_dot.startswith("x" * 234 + "-")
    assert len(cut_at_a_dot) <= MAX_NAME


def test_slot_times() -> None:
    assert format_slot(1735689600) == "2025-01-01T00:00:00Z"
    assert parse_slot("2025-01-01T00:00:00Z") == 1735689600
    assert parse_slot("2025-01-01T00:00:00") is None  # no offset: not guessed
    assert parse_slot("soon") is None
    assert parse_slot(None) is None
