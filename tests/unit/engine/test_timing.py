"""countdown, eta, expires, parallelism and priority."""

from __future__ import annotations

from typing import Any

import pytest

from kubecanvas._kits.timestamps import from_rfc3339
from kubecanvas.engine import Phase, TaskState
from support.simulation import Expire, Raise, chain, chord, group, sig, simulate

EPOCH = from_rfc3339("2030-01-01T00:00:00Z")


def _at(seconds: int) -> str:
    return f"2030-01-01T00:00:{seconds:02d}Z"


def _expired(run: Any, task_id: str) -> None:
    record = run.records[task_id]
    assert record.state == TaskState.REVOKED
    assert record.reason == "expired"
    assert record.error is not None
    assert (record.error.type, record.error.message) == ("TaskRevokedError", "expired")


def test_countdown_counts_from_the_moment_the_task_is_ready() -> None:
    run = simulate(chain(sig("add", 1, 1), sig("mul", 2, options={"countdown": 3})), start_time=EPOCH)
    assert run.launch_times("t1") == [EPOCH + 1 + 3]
    assert run.result == 4


def test_countdown_on_a_composite_applies_to_every_task_inside() -> None:
    run = simulate(group(sig("add", 1, 1), sig("add", 2, 2), options={"countdown": 5}))
    assert [when for _, _, when in run.launches] == [5.0, 5.0]


def test_eta_is_absolute_and_wins_over_countdown() -> None:
    run = simulate(sig("add", 1, 1, options={"eta": _at(10), "countdown": 3}), start_time=EPOCH)
    assert run.launch_times("t0") == [EPOCH + 10]


def test_eta_in_the_past_launches_at_once() -> None:
    run = simulate(chain(sig("add", 1, 1), sig("add", 2, options={"eta": _at(0)})), start_time=EPOCH + 30)
    assert run.launch_times("t1") == [EPOCH + 31]


def test_eta_in_the_past_for_an_errback_launches_at_once() -> None:
    run = simulate(sig("fail", linkError=sig("log_error")), defaults={"eta": _at(0)}, start_time=EPOCH + 30)
    assert run.launch_times("e0.0.0") == [EPOCH + 31]


def test_expires_before_the_start_revokes_and_fails_the_workflow() -> None:
    run = simulate(sig("add", 1, 1, options={"countdown": 10, "expires": 5}), start_time=EPOCH)
    _expired(run, "t0")
    assert run.records["t0"].finished_at == EPOCH + 5
    assert run.phase == Phase.FAILED
    assert run.error is not None
    assert (run.error.type, run.error.task_id) == ("TaskRevokedError", "t0")
    assert run.launches == []


def test_expires_while_waiting_for_a_slot() -> None:
    run = simulate(
        chain(group(sig("sleep", 1), sig("add", 1, 1, options={"expires": 0.5})), sig("tsum")),
        parallelism=1,
    )
    _expired(run, "t1")
    body = run.records["t2"]
    assert body.error is not None
    assert body.error.message == "Dependency t1 raised TaskRevokedError('expired')"


def test_absolute_expires_in_the_past_revokes_when_ready() -> None:
    run = simulate(chain(sig("add", 1, 1), sig("add", 2, options={"expires": _at(0)})), start_time=EPOCH + 30)
    _expired(run, "t1")
    assert run.records["t1"].finished_at == EPOCH + 31
    assert run.launch_times("t1") == []


def test_expires_does_not_touch_a_started_task() -> None:
    run = simulate(sig("add", 1, 1, options={"expires": 2}), duration=10.0)
    assert run.phase == Phase.SUCCEEDED
    assert run.result == 2


def test_launched_but_not_started_task_is_killed_when_it_expires() -> None:
    run = simulate(sig("add", 1, 1, options={"expires": 2}), start_delay=5.0)
    _expired(run, "t0")
    assert [(kill.task_id, kill.attempt, kill.reason, when) for kill, when in run.kills] == [
        ("t0", 1, "expired", 2.0)
    ]
    assert run.calls == []


def test_runtime_reported_expiry() -> None:
    run = simulate(chain(sig("add", 1, 1, options={"expires": 60}), sig("mul", 2)), script={"t0": Expire()})
    _expired(run, "t0")
    assert run.state("t1") == TaskState.REVOKED
    assert run.phase == Phase.FAILED


def test_expires_during_a_retry_wait() -> None:
    options = {"expires": 5, "retries": {"max": 3, "delay": 10}}
    run = simulate(sig("add", 1, 1, options=options), script={"t0": [Raise("ValueError", "x")]})
    _expired(run, "t0")
    assert run.records["t0"].finished_at == 5.0
    assert len(run.calls) == 1


def test_expires_counts_from_ready_not_from_the_workflow_start() -> None:
    run = simulate(chain(sig("sleep", 1), sig("add", 1, 1, options={"expires": 2})), duration={"t0": 10.0})
    assert run.phase == Phase.SUCCEEDED


@pytest.mark.parametrize("parallelism", [1, 2, 5])
@pytest.mark.parametrize("order", ["canvas", "random"])
def test_parallelism_is_never_exceeded(parallelism: int, order: str) -> None:
    canvas = chain(
        group(*(sig("add", i, i) for i in range(12))),
        sig("tsum"),
        chord([sig("add", i) for i in range(8)], sig("tsum")),
    )
    script = {"t3": [Raise("ValueError", "x")], "t5": [Raise("ValueError", "x")] * 2}
    run = simulate(
        canvas,
        parallelism=parallelism,
        order=order,
        script=script,
        defaults={"retries": {"max": 3, "delay": 0.5}},
    )
    assert run.phase == Phase.SUCCEEDED
    assert run.max_running == parallelism  # the simulation fails if it is ever exceeded
    assert run.result == sum(2 * i for i in range(12)) * 8 + sum(range(8))


def test_priority_orders_launches_when_slots_are_scarce() -> None:
    canvas = group(
        sig("add", 0, 0, options={"priority": 1}),
        sig("add", 1, 1, options={"priority": 9}),
        sig("add", 2, 2),
        sig("add", 3, 3, options={"priority": 5}),
        sig("add", 4, 4, options={"priority": 9}),
    )
    run = simulate(canvas, parallelism=1)
    assert [task_id for task_id, _, _ in run.launches] == ["t1", "t4", "t3", "t0", "t2"]
    assert run.result == [0, 2, 4, 6, 8]


def test_priority_from_defaults_and_ties_in_canvas_order() -> None:
    canvas = group(sig("add", 0, 0), sig("add", 1, 1, options={"priority": 0}), sig("add", 2, 2))
    run = simulate(canvas, parallelism=1, defaults={"priority": 3})
    assert [task_id for task_id, _, _ in run.launches] == ["t0", "t2", "t1"]
