"""An engine rebuilt from its own persisted records, at any point of a run, ends the
same way, and never launches an attempt twice (the simulation checks that)."""

from __future__ import annotations

from typing import Any

import pytest

from kubecanvas.engine import Engine, Phase, TaskRecord, TaskState
from kubecanvas.engine.events import Start, Succeeded, Tick
from support.simulation import (
    Expire,
    Hang,
    Lost,
    Raise,
    RetryRequest,
    SimulationResult,
    chain,
    chord,
    compile_canvas,
    group,
    sig,
    simulate,
)

FAIL = Raise("ValueError", "boom", types=("ValueError", "Exception"))

SCENARIOS: dict[str, dict[str, Any]] = {
    "chord-with-failures-and-errback": {
        "canvas": chord(
            [sig("add", 1, 1), sig("fail"), group(sig("add", 2, 2), sig("fail")), sig("add", 3, 3)],
            sig("tsum"),
            linkError=chain(sig("log_error"), sig("identity")),
        ),
        "parallelism": 2,
    },
    "group-errbacks-and-links": {
        "canvas": group(
            sig("fail", link=sig("identity")),
            chain(sig("add", 1, 1), sig("mul", 3), link=sig("echo", "done")),
            sig("fail"),
            linkError=sig("log_error"),
        ),
        "parallelism": 3,
        "order": "reverse",
    },
    "retries-lost-and-self-retry": {
        "canvas": chain(
            sig("add", 1, 1, options={"retries": {"max": 3, "delay": 2, "backoff": 2, "jitter": True}}),
            group(sig("add", 1), sig("mul", 2)),
            sig("tsum", options={"retries": {"max": 1}}),
        ),
        "script": {
            "t0": [FAIL, Lost()],
            "t2": [RetryRequest(countdown=3), RetryRequest()],
            "t3": [Lost()],
        },
        "parallelism": 1,
    },
    "countdown-eta-expires": {
        "canvas": chain(
            sig("add", 1, 1, options={"countdown": 5}),
            group(
                sig("add", 1, options={"expires": 30}),
                sig("sleep", 1, immutable=True, options={"expires": 0.5}),
                sig("add", 3, options={"countdown": 2}),
            ),
            sig("xsum"),
        ),
        "parallelism": 1,
    },
    "runtime-expiry-and-parallelism": {
        "canvas": group(
            *(sig("add", i, i, options={"expires": 100}) for i in range(8)), linkError=sig("log_error")
        ),
        "script": {"t2": Expire(), "t5": [FAIL]},
        "parallelism": 3,
        "order": "random",
        "seed": 11,
    },
    "revoke-midway": {
        "canvas": chain(group(sig("add", 1, 1), sig("sleep", 50)), sig("tsum"), linkError=sig("log_error")),
        "script": {"t1": Hang()},
        "revoke_at": 4.0,
    },
    "success-with-a-clock-at-zero": {
        "canvas": chord([sig("add", i, i) for i in range(9)], sig("tsum")),
        "parallelism": 2,
        "start_time": 0.0,
    },
}


def _outcome(run: SimulationResult) -> dict[str, Any]:
    error = run.error
    return {
        "phase": run.phase,
        "result": run.result,
        "error": error and error.to_json(),
        "states": {
            task_id: (record.state, record.attempt, record.reason) for task_id, record in run.records.items()
        },
        "errbacks": sorted((call.task_id, tuple(call.args)) for call in run.errback_calls()),
        "launches": run.launches,
        "kills": [(kill, when) for kill, when in run.kills],
        "results": run.results,
    }


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_resume_at_every_point_ends_the_same(name: str) -> None:
    scenario = dict(SCENARIOS[name])
    canvas = scenario.pop("canvas")
    baseline = simulate(canvas, **scenario)
    assert baseline.phase.finished
    expected = _outcome(baseline)
    for point in range(1, len(baseline.steps) + 1):
        resumed = simulate(canvas, resume_after={point}, **scenario)
        assert resumed.resumes == 1
        assert _outcome(resumed) == expected, f"resumed after engine call {point}"
    every = simulate(canvas, resume_after=lambda n: True, **scenario)
    assert _outcome(every) == expected


def test_record_round_trip_keeps_zero_times() -> None:
    record = TaskRecord(state=TaskState.STARTED, attempt=1, launched=True, ready_at=0.0, started_at=0.0)
    assert TaskRecord.from_json(record.to_json()) == record
    assert TaskRecord.from_json(TaskRecord().to_json()) == TaskRecord()


def test_resume_with_tasks_waiting_for_a_slot_at_time_zero() -> None:
    """Regression: ready_at == 0.0 was not persisted, so a resumed engine forgot the
    tasks that were ready but waiting for a slot and never launched them."""
    graph = compile_canvas(group(sig("add", 1, 1), sig("add", 2, 2), sig("add", 3, 3)))
    engine = Engine(graph, parallelism=1)
    engine.feed(Start(0.0))
    records = {task_id: TaskRecord.from_json(record.to_json()) for task_id, record in engine.records.items()}
    resumed = Engine(graph, parallelism=1, records=records, phase=engine.phase, started_at=engine.started_at)
    step = resumed.feed(Succeeded("t0", 1, 1.0))
    assert [launch.node.id for launch in step.launches] == ["t1"]


def test_resume_of_a_finished_workflow_is_inert() -> None:
    run = simulate(sig("fail", linkError=sig("log_error")))
    engine = run.engine
    resumed = Engine(
        engine.graph,
        records={
            task_id: TaskRecord.from_json(record.to_json()) for task_id, record in engine.records.items()
        },
        extra_nodes=[node for node in engine.ordered_nodes() if node.id.startswith("e")],
        phase=engine.phase,
        started_at=engine.started_at,
        finished_at=engine.finished_at,
    )
    step = resumed.feed(Tick(100.0))
    assert step.empty
    assert resumed.phase == Phase.FAILED
    assert resumed.error() == engine.error()
    assert resumed.total == engine.total


def test_resumed_engine_does_not_fire_an_errback_twice() -> None:
    """The errback's nodes are persisted as extra nodes: the rebuilt engine knows it fired."""
    canvas = group(sig("fail"), sig("sleep", 10), linkError=sig("log_error"))
    run = simulate(canvas, resume_after=lambda n: True, duration={"conftasks.sleep": 10.0})
    assert [call.task_id for call in run.errback_calls()] == ["e0.0.0"]
