"""Driving the engine by hand: stale events, revoke, step contents."""

from __future__ import annotations

import pytest

from kubecanvas.engine import Engine, Phase, TaskFailure, TaskState
from kubecanvas.engine.events import Expired, Failed, RetryRequested, Revoke, Start, Started, Succeeded, Tick
from support.simulation import Hang, Raise, chain, chord, compile_canvas, group, sig, simulate

BOOM = TaskFailure("ValueError", "boom", types=("ValueError", "Exception"))


def _engine(canvas: dict[str, object], parallelism: int = 50) -> Engine:
    return Engine(compile_canvas(canvas), parallelism=parallelism)


def test_start_launches_roots_and_is_harmless_to_repeat() -> None:
    engine = _engine(chain(sig("add", 1, 1), sig("mul", 2)))
    first = engine.feed(Start(0.0))
    assert [(launch.node.id, launch.attempt) for launch in first.launches] == [("t0", 1)]
    assert first.phase_changed
    again = engine.feed(Start(1.0))
    assert again.launches == []
    assert engine.started_at == 0.0


def test_stale_events_are_ignored() -> None:
    engine = _engine(sig("add", 1, 1, options={"retries": {"max": 3, "delay": 0}}))
    engine.feed(Start(0.0))
    engine.feed(Started("t0", 1, 0.0))
    step = engine.feed(Failed("t0", 1, BOOM, 1.0))
    assert [(launch.node.id, launch.attempt) for launch in step.launches] == [("t0", 2)]
    # news about attempt 1 (late, duplicated) or attempt 3 (not launched) changes nothing
    for stale in (
        engine.feed(Succeeded("t0", 1, 2.0)),
        engine.feed(Failed("t0", 1, BOOM, 2.0)),
        engine.feed(Started("t0", 3, 2.0)),
        engine.feed(Expired("t0", 1, 2.0)),
        engine.feed(RetryRequested("t0", 1, 2.0)),
        engine.feed(Succeeded("t9", 1, 2.0)),  # no such task
    ):
        assert stale.empty
    record = engine.records["t0"]
    assert (record.state, record.attempt, record.launched) == (TaskState.RETRY, 2, True)
    engine.feed(Succeeded("t0", 2, 3.0))
    assert engine.phase == Phase.SUCCEEDED
    # after the end: nothing moves
    assert engine.feed(Succeeded("t0", 2, 4.0)).empty
    assert engine.feed(Failed("t0", 2, BOOM, 4.0)).empty
    assert engine.finished_count == 1
    assert engine.counts() == {"SUCCESS": 1}


def test_duplicate_success_is_counted_once() -> None:
    engine = _engine(group(sig("add", 1, 1), sig("add", 2, 2)))
    engine.feed(Start(0.0))
    engine.feed(Succeeded("t0", 1, 1.0))
    assert engine.feed(Succeeded("t0", 1, 1.5)).empty
    assert engine.finished_count == 1
    assert engine.phase == Phase.RUNNING


def test_success_without_a_started_event_is_accepted() -> None:
    engine = _engine(sig("add", 1, 1))
    engine.feed(Start(0.0))
    step = engine.feed(Succeeded("t0", 1, 1.0))
    assert step.phase_changed
    assert engine.phase == Phase.SUCCEEDED


def test_events_for_a_task_that_was_never_launched_are_ignored() -> None:
    engine = _engine(chain(sig("add", 1, 1), sig("mul", 2)))
    engine.feed(Start(0.0))
    assert engine.feed(Succeeded("t1", 1, 1.0)).empty
    assert engine.feed(Started("t1", 0, 1.0)).empty
    assert engine.records["t1"].state == TaskState.PENDING


def test_revoke_kills_launched_attempts_only_and_runs_no_errback() -> None:
    canvas = group(*(sig("sleep", 10) for _ in range(5)), linkError=sig("log_error"))
    run = simulate(canvas, parallelism=2, script={f"t{i}": Hang() for i in range(5)}, revoke_at=3.0)
    assert run.phase == Phase.REVOKED
    assert sorted((kill.task_id, kill.attempt, kill.reason) for kill, _ in run.kills) == [
        ("t0", 1, "revoked"),
        ("t1", 1, "revoked"),
    ]
    assert set(run.states().values()) == {TaskState.REVOKED}
    assert all(record.reason == "revoked" for record in run.records.values())
    assert not run.errback_calls()
    assert run.error is None


def test_revoke_during_a_retry_wait_kills_nothing() -> None:
    run = simulate(
        sig("add", 1, 1, options={"retries": {"max": 1, "delay": 100}}),
        script={"t0": [Raise("ValueError", "x")]},
        revoke_at=50.0,
    )
    assert run.phase == Phase.REVOKED
    assert run.kills == []
    assert run.state("t0") == TaskState.REVOKED


def test_revoke_with_failures_already_waiting_for_an_errback() -> None:
    """A unit that finishes because of the revoke does not fire its errback."""
    canvas = chord([sig("fail"), sig("sleep", 100)], sig("tsum"), linkError=sig("log_error"))
    run = simulate(canvas, script={"t1": Hang()}, revoke_at=10.0)
    assert run.phase == Phase.REVOKED
    assert not run.errback_calls()
    assert run.state("t0") == TaskState.FAILURE  # what finished stays as it was


def test_revoke_kills_a_running_errback() -> None:
    run = simulate(sig("fail", linkError=sig("log_error")), script={"e0.0.0": Hang()}, revoke_at=10.0)
    assert [(kill.task_id, kill.reason) for kill, _ in run.kills] == [("e0.0.0", "revoked")]
    assert run.phase == Phase.REVOKED


def test_revoke_after_the_end_changes_nothing() -> None:
    engine = _engine(sig("add", 1, 1))
    engine.feed(Start(0.0))
    engine.feed(Succeeded("t0", 1, 1.0))
    step = engine.feed(Revoke(2.0))
    assert step.empty
    assert engine.phase == Phase.SUCCEEDED
    assert engine.finished_at == 1.0


def test_revoke_before_the_start() -> None:
    engine = _engine(chain(sig("add", 1, 1), sig("mul", 2)))
    step = engine.feed(Revoke(0.0))
    assert step.kills == []
    assert engine.phase == Phase.REVOKED
    assert engine.feed(Start(1.0)).launches == []
    assert {record.state for record in engine.records.values()} == {TaskState.REVOKED}


def test_events_after_a_revoke_are_ignored() -> None:
    engine = _engine(sig("add", 1, 1))
    engine.feed(Start(0.0))
    engine.feed(Revoke(1.0))
    assert engine.feed(Succeeded("t0", 1, 2.0)).empty
    assert engine.records["t0"].state == TaskState.REVOKED


def test_step_reports_changed_records_and_new_errback_nodes() -> None:
    engine = _engine(chain(sig("fail", linkError=chain(sig("log_error"), sig("identity"))), sig("mul", 2)))
    engine.feed(Start(0.0))
    step = engine.feed(Failed("t0", 1, BOOM, 1.0))
    assert [node.id for node in step.new_nodes] == ["e0.0.0", "e0.0.1"]
    assert [node.index for node in step.new_nodes] == [2, 3]
    assert {"t0", "t1", "e0.0.0", "e0.0.1"} <= step.changed
    assert [launch.node.id for launch in step.launches] == ["e0.0.0"]
    assert step.new_nodes[0].input is not None
    assert step.new_nodes[0].input.failed == "t0"
    assert step.new_nodes[1].deps == ("e0.0.0",)
    assert engine.total == 4
    kinds = [notice.kind for notice in step.notices]
    assert kinds == ["failure", "errback"]


def test_empty_workflow_succeeds_at_once() -> None:
    engine = _engine(group())
    step = engine.feed(Start(5.0))
    assert engine.phase == Phase.SUCCEEDED
    assert step.phase_changed
    assert engine.finished_at == 5.0
    assert engine.result_ready()


@pytest.mark.parametrize("parallelism", [1, 3])
def test_wake_at_names_the_next_delayed_launch_or_expiry(parallelism: int) -> None:
    engine = _engine(
        group(sig("add", 1, 1, options={"countdown": 7}), sig("add", 2, 2, options={"expires": 4})),
        parallelism=parallelism,
    )
    step = engine.feed(Start(0.0))
    assert step.wake_at == 4.0  # t1 is launched but not started: it may still expire
    step = engine.feed(Started("t1", 1, 0.5))
    assert step.wake_at == 7.0
    step = engine.feed(Tick(7.0))
    assert [launch.node.id for launch in step.launches] == (["t0"] if parallelism > 1 else [])
    assert step.wake_at is None
    if parallelism == 1:
        step = engine.feed(Succeeded("t1", 1, 8.0))
        assert [launch.node.id for launch in step.launches] == ["t0"]
