"""The contract's public cases 1-30 (shared/canvas-semantics.md, section 5) and ours, run through
the in-process simulation in several completion orders, with and without a resume
after every engine call."""

from __future__ import annotations

from typing import Any

import pytest

from kubecanvas.engine import Phase, TaskState
from support.simulation import Hang, SimulationResult, chain, chord, group, sig, simulate

ORDERS: list[dict[str, Any]] = [
    {"order": "canvas"},
    {"order": "reverse"},
    {"order": "random", "seed": 7},
    {"order": "fifo", "parallelism": 2},
    {"order": "canvas", "resume_after": lambda n: True},
    {"order": "random", "seed": 3, "parallelism": 3, "resume_after": lambda n: n % 2 == 0},
]
ORDER_IDS = ["canvas", "reverse", "random", "fifo-p2", "resume-every-step", "random-p3-resume"]

# (case number, canvas, spec args, spec kwargs, result)
SUCCEEDING: list[tuple[int, dict[str, Any], list[Any] | None, dict[str, Any] | None, Any]] = [
    (1, sig("add", 2, 2), None, None, 4),
    (2, sig("sub", 10), [30], None, 20),
    (3, sig("echo", 1, kwargs={"a": 1, "b": 2}), [2], {"b": 3, "c": 4}, [[2, 1], {"a": 1, "b": 3, "c": 4}]),
    (4, sig("echo", 1, kwargs={"a": 1}, immutable=True), [2], {"b": 3}, [[1], {"a": 1}]),
    (5, chain(sig("add", 4, 4), sig("add", 8), sig("add", 16)), None, None, 32),
    (6, chain(sig("add", 4), sig("mul", 8)), [16], None, 160),
    (7, chain(sig("add", 4, 16), sig("mul", 2), chain(sig("add", 4), sig("mul", 8))), None, None, 352),
    (
        8,
        chain(
            sig("add", 2, 2, immutable=True),
            sig("add", 4, 4, immutable=True),
            sig("add", 8, 8, immutable=True),
        ),
        None,
        None,
        16,
    ),
    (9, group(*(sig("add", i, i) for i in range(10))), None, None, [2 * i for i in range(10)]),
    (10, group(sig("add", 1), sig("add", 2), sig("echo", 9)), [10], None, [11, 12, [[10, 9], {}]]),
    (11, group(), None, None, []),
    (
        12,
        group(
            sig("add", 1, 10, immutable=True),
            group(
                sig("add", 1, 100, immutable=True),
                group(sig("add", 1, 1000, immutable=True), sig("add", 1, 2000, immutable=True)),
            ),
        ),
        None,
        None,
        [11, 101, 1001, 2001],
    ),
    (13, chain(group(*(sig("add", i, i) for i in range(10))), sig("tsum")), None, None, 90),
    (
        14,
        chain(sig("add", 5, 6), group(chain(sig("add", 1), sig("add", 2)), sig("add", 3))),
        None,
        None,
        [14, 14],
    ),
    (15, chord([sig("add", i, i) for i in range(100)], sig("tsum")), None, None, 9900),
    (
        16,
        chord([sig("add", 1, 1), sig("add", 2, 2)], sig("echo", "x", kwargs={"k": 1})),
        None,
        None,
        [[[2, 4], "x"], {"k": 1}],
    ),
    (17, chord([sig("add", 1, 1)], sig("echo", "done", immutable=True)), None, None, [["done"], {}]),
    (
        18,
        chord([chain(sig("add", 1, 2), sig("mul", 10)), sig("identity", 7)], sig("identity")),
        None,
        None,
        [30, 7],
    ),
    (19, chord([], sig("identity")), None, None, []),
    (
        20,
        chain(sig("add", 2, 2), chord([sig("add", 1), sig("add", 2)], sig("tsum")), sig("mul", 10)),
        None,
        None,
        110,
    ),
    (21, {"map": {"task": "conftasks.tsum", "items": [[0, 1, 2], [3, 4]]}}, None, None, [3, 7]),
    (22, {"starmap": {"task": "conftasks.add", "items": [[0, 0], [1, 1], [2, 2]]}}, None, None, [0, 2, 4]),
    (
        23,
        {"chunks": {"task": "conftasks.add", "items": [[i, i] for i in range(10)], "size": 3}},
        None,
        None,
        [[0, 2, 4], [6, 8, 10], [12, 14, 16], [18]],
    ),
]


def _assert_clean_end(run: SimulationResult) -> None:
    assert run.phase.finished
    unfinished = {
        task_id: state
        for task_id, state in run.states().items()
        if state not in {"SUCCESS", "FAILURE", "REVOKED"}
    }
    assert not unfinished


@pytest.mark.parametrize("how", ORDERS, ids=ORDER_IDS)
@pytest.mark.parametrize(
    ("number", "canvas", "args", "kwargs", "expected"), SUCCEEDING, ids=[f"case{c[0]}" for c in SUCCEEDING]
)
def test_succeeding_case(  # noqa: PLR0917 - pytest passes parameters by name
    number: int, canvas: dict[str, Any], args: Any, kwargs: Any, expected: Any, how: dict[str, Any]
) -> None:
    run = simulate(canvas, args=args, kwargs=kwargs, **how)
    assert run.phase == Phase.SUCCEEDED, run.error
    assert run.result == expected
    assert run.error is None
    _assert_clean_end(run)


def test_case8_immutable_chain_runs_in_order() -> None:
    run = simulate(
        chain(
            sig("add", 2, 2, immutable=True),
            sig("add", 4, 4, immutable=True),
            sig("add", 8, 8, immutable=True),
        ),
        order="reverse",
    )
    assert [call.task_id for call in run.calls] == ["t0", "t1", "t2"]
    assert [call.args for call in run.calls] == [[2, 2], [4, 4], [8, 8]]


def test_case11_empty_group_succeeds_at_once() -> None:
    run = simulate(group())
    assert run.phase == Phase.SUCCEEDED
    assert run.result == []
    assert run.calls == []


def test_case19_empty_chord_calls_body_with_empty_list() -> None:
    run = simulate(chord([], sig("identity")))
    assert [(call.task, call.args) for call in run.calls] == [("conftasks.identity", [[]])]


@pytest.mark.parametrize("how", ORDERS, ids=ORDER_IDS)
def test_case24_failure_in_chain(how: dict[str, Any]) -> None:
    run = simulate(chain(sig("add", 1, 2), sig("fail"), sig("add", 3, 4)), **how)
    assert run.phase == Phase.FAILED
    assert run.error is not None
    assert (run.error.type, run.error.task_id, run.error.task) == (
        "ExpectedException",
        "t1",
        "conftasks.fail",
    )
    assert run.error.message == "Task expected to fail"
    assert run.state("t2") in (TaskState.FAILURE, TaskState.REVOKED)
    assert not run.calls_of("conftasks.add")[1:]  # the third task never ran
    _assert_clean_end(run)


@pytest.mark.parametrize("how", ORDERS, ids=ORDER_IDS)
def test_case25_chord_with_failing_header(how: dict[str, Any]) -> None:
    canvas = chord(
        [sig("add", 1, 2), sig("fail"), sig("add", 3, 4), sig("fail")],
        sig("tsum"),
        linkError=[sig("log_error")],
    )
    run = simulate(canvas, **how)
    assert run.phase == Phase.FAILED
    assert not run.calls_of("conftasks.tsum")  # the body never runs
    body = run.records["t4"]
    assert body.state == TaskState.FAILURE
    assert body.error is not None
    assert body.error.type == "ChordError"
    assert body.error.message == "Dependency t1 raised ExpectedException('Task expected to fail')"
    assert len(run.calls_of("conftasks.log_error")) == 1
    assert run.calls_of("conftasks.log_error")[0].args == ["t1"]
    assert run.error is not None
    assert (run.error.type, run.error.task_id) == ("ExpectedException", "t1")  # not the ChordError
    _assert_clean_end(run)


@pytest.mark.parametrize("how", ORDERS, ids=ORDER_IDS)
def test_case26_group_errback_once_per_failing_member(how: dict[str, Any]) -> None:
    canvas = group(sig("fail"), sig("identity", 1, immutable=True), sig("fail"), linkError=[sig("log_error")])
    run = simulate(canvas, **how)
    assert run.phase == Phase.FAILED
    assert run.state("t1") == TaskState.SUCCESS
    assert run.results["t1"] == 1
    assert sorted(call.args[0] for call in run.calls_of("conftasks.log_error")) == ["t0", "t2"]
    assert run.error is not None
    assert run.error.task_id == "t0"
    _assert_clean_end(run)


@pytest.mark.parametrize("how", ORDERS, ids=ORDER_IDS)
def test_case27_flaky_task_retried_until_it_succeeds(how: dict[str, Any]) -> None:
    run = simulate(sig("flaky", "k27", 2, options={"retries": {"max": 3, "delay": 1}}), **how)
    assert run.phase == Phase.SUCCEEDED
    assert run.result == 3
    assert [call.attempt for call in run.calls] == [1, 2, 3]
    relaunches = run.launch_times("t0")[1:]
    assert [
        launched - call.at for call, launched in zip(run.calls, relaunches, strict=False)
    ] == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize("how", ORDERS, ids=ORDER_IDS)
def test_case28_flaky_task_out_of_retries(how: dict[str, Any]) -> None:
    run = simulate(sig("flaky", "k28", 5, options={"retries": {"max": 2, "delay": 1}}), **how)
    assert run.phase == Phase.FAILED
    assert len(run.calls) == 3
    assert run.state("t0") == TaskState.FAILURE
    assert run.error is not None
    assert run.error.type == "RuntimeError"
    assert run.records["t0"].attempt == 3


@pytest.mark.parametrize("start", [0.0, 1_700_000_000.0])
def test_case29_countdown_delays_the_launch(start: float) -> None:
    run = simulate(sig("add", 1, 1, options={"countdown": 3}), start_time=start)
    assert run.result == 2
    assert run.launch_times("t0") == [start + 3]


@pytest.mark.parametrize("resume", [None, lambda n: True])
def test_case30_revoke_kills_and_revokes(resume: Any) -> None:
    run = simulate(sig("sleep", 30), script={"t0": Hang()}, revoke_at=2.0, resume_after=resume)
    assert run.phase == Phase.REVOKED
    assert run.state("t0") == TaskState.REVOKED
    assert run.records["t0"].reason == "revoked"
    assert [(kill.task_id, kill.attempt, kill.reason, when) for kill, when in run.kills] == [
        ("t0", 1, "revoked", 2.0)
    ]
    assert not run.errback_calls()
    assert run.engine.finished_at == 2.0


def test_case30_revoke_with_a_long_task_and_waiting_dependents() -> None:
    run = simulate(
        chain(sig("sleep", 30), sig("add", 1), linkError=[sig("log_error")]),
        duration={"conftasks.sleep": 30.0},
        revoke_at=2.0,
    )
    assert run.phase == Phase.REVOKED
    assert {task_id: state.value for task_id, state in run.states().items()} == {
        "t0": "REVOKED",
        "t1": "REVOKED",
    }
    assert not run.errback_calls()  # no errback on revoke
    assert len(run.kills) == 1


def test_the_real_conftasks_agree_with_the_stand_ins() -> None:
    """examples/conftasks.py itself (sleep aside) gives the same results in the simulation;
    `flaky` reads KUBECANVAS_ATTEMPT, which the simulation sets as the runtime does."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "examples" / "conftasks.py"
    spec = importlib.util.spec_from_file_location("conftasks_for_simulation", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = ["add", "mul", "sub", "tsum", "xsum", "identity", "echo", "fail", "flaky", "log_error_id"]
    real = {f"conftasks.{name}": getattr(module, name) for name in names}
    for number, canvas, args, kwargs, expected in SUCCEEDING:
        run = simulate(canvas, args=args, kwargs=kwargs, functions=real)
        assert run.result == expected, number
    flaky = simulate(sig("flaky", "k27", 2, options={"retries": {"max": 3, "delay": 1}}), functions=real)
    assert flaky.result == 3
    failing = simulate(
        group(sig("fail"), sig("identity", 1, immutable=True), sig("fail"), linkError=[sig("log_error_id")]),
        functions=real,
    )
    assert sorted(str(failing.results[call.task_id]) for call in failing.errback_calls()) == [
        "failed: t0",
        "failed: t2",
    ]
    assert failing.error is not None
    assert failing.error.type == "ExpectedException"


@pytest.mark.parametrize("how", ORDERS, ids=ORDER_IDS)
def test_a_chord_bodys_own_errback_runs_once_when_the_header_fails(how: dict[str, Any]) -> None:
    """`group(...) | xsum.s().on_error(on_chord_error.s())`, straight from Celery's canvas guide:
    the errback is on the body alone, which never runs. Celery calls it; so do we, once, with
    the root cause (the failing header task), as a chord's own errback is called."""
    canvas = chord(
        [sig("add", 1, 2), sig("fail"), sig("fail")],
        sig("tsum", linkError=[sig("log_error")]),
    )
    run = simulate(canvas, **how)
    assert run.phase == Phase.FAILED
    assert not run.calls_of("conftasks.tsum")
    assert run.state("t3") == TaskState.FAILURE  # the body: ChordError
    assert [call.args for call in run.calls_of("conftasks.log_error")] == [["t1"]]
    assert run.error is not None
    assert run.error.task_id == "t1"
    _assert_clean_end(run)


def test_an_errback_on_a_task_that_never_ran_for_an_upstream_failure_does_not_run() -> None:
    """Only a join (a chord body) has its errback called for its dependencies' failure: a task
    revoked because an earlier task of its chain failed is not sent, as in Celery."""
    run = simulate(chain(sig("fail"), sig("add", 1, linkError=[sig("log_error")])))
    assert run.state("t1") == TaskState.REVOKED
    assert not run.calls_of("conftasks.log_error")


def test_the_chain_form_of_a_chord_calls_its_bodys_errback_too() -> None:
    """`group(...) | tsum.s().on_error(...)` is a chain whose second step joins (contract 3.7)."""
    canvas = chain(group(sig("add", 1, 2), sig("fail")), sig("tsum", linkError=[sig("log_error")]))
    run = simulate(canvas)
    assert [call.args for call in run.calls_of("conftasks.log_error")] == [["t1"]]
