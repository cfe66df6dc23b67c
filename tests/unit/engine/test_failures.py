"""Error propagation and errbacks (contract section 4), through the simulation."""

from __future__ import annotations

from typing import Any

import pytest

from kubecanvas.engine import Phase, TaskState
from support.simulation import Raise, SimulationResult, Succeed, chain, chord, group, sig, simulate

FAIL = Raise("ExpectedException", "Task expected to fail")


def _no_waiting_task(run: SimulationResult) -> None:
    assert run.phase.finished
    assert all(record.terminal for record in run.records.values()), run.states()


def _errback_targets(run: SimulationResult, task: str = "conftasks.log_error") -> list[str]:
    return sorted(call.args[0] for call in run.calls_of(task))


@pytest.mark.parametrize("order", ["canvas", "reverse", "fifo"])
def test_dependents_of_a_failure_end_revoked_or_failed_never_pending(order: str) -> None:
    canvas = chain(
        sig("add", 1, 1),
        sig("fail"),
        group(sig("add", 1), chain(sig("add", 2), sig("add", 3))),
        sig("tsum"),
        chord([sig("add", 1)], sig("tsum")),
    )
    run = simulate(canvas, order=order)
    assert run.phase == Phase.FAILED
    _no_waiting_task(run)
    assert [call.task_id for call in run.calls] == ["t0", "t1"]
    revoked = {task_id for task_id, state in run.states().items() if state == TaskState.REVOKED}
    failed = {task_id for task_id, state in run.states().items() if state == TaskState.FAILURE}
    assert revoked == {"t2", "t3", "t4", "t6"}  # plain dependents: REVOKED at once
    assert failed == {"t1", "t5", "t7"}  # the failure, and joins: ChordError
    for task_id in revoked:
        record = run.records[task_id]
        assert record.cause == "t1"
        assert record.error is not None
        assert record.error.type == "TaskRevokedError"
        assert record.reason == "upstream"
    for task_id in ("t5", "t7"):
        error = run.records[task_id].error
        assert error is not None
        assert error.type == "ChordError"
        assert error.message == "Dependency t1 raised ExpectedException('Task expected to fail')"


def test_group_siblings_of_a_failure_run_to_completion() -> None:
    run = simulate(
        group(sig("fail"), chain(sig("add", 1, 1), sig("mul", 5)), sig("identity", 3)), order="reverse"
    )
    assert run.phase == Phase.FAILED
    assert run.results == {"t1": 2, "t2": 10, "t3": 3}
    assert run.result is None  # the result is not ready: a member failed


def test_join_waits_for_every_branch_before_failing() -> None:
    """The task after a group fails once all branches have finished, not at the first failure."""
    run = simulate(
        chain(group(sig("fail"), sig("add", 1, 1)), sig("tsum")),
        duration={"t0": 1.0, "t1": 5.0},
    )
    body = run.records["t2"]
    assert body.state == TaskState.FAILURE
    assert body.finished_at == 5.0
    assert run.state("t1") == TaskState.SUCCESS


@pytest.mark.parametrize("failing", [[0], [1, 3], [0, 1, 2, 3, 4, 5], [5], [2, 5]])
@pytest.mark.parametrize("order", ["canvas", "reverse", "random"])
def test_chord_errback_runs_exactly_once(failing: list[int], order: str) -> None:
    header = [sig("fail") if index in failing else sig("add", index, index) for index in range(6)]
    run = simulate(chord(header, sig("tsum"), linkError=[sig("log_error")]), order=order, seed=len(failing))
    assert run.phase == Phase.FAILED
    assert _errback_targets(run) == [f"t{min(failing)}"]
    assert not run.calls_of("conftasks.tsum")
    body = run.records["t6"]
    assert body.error is not None
    assert body.error.message.startswith(f"Dependency t{min(failing)} raised ExpectedException")
    _no_waiting_task(run)


def test_chord_errback_once_when_the_body_itself_fails() -> None:
    run = simulate(chord([sig("add", 1, 1), sig("add", 2, 2)], sig("fail"), linkError=sig("log_error")))
    assert _errback_targets(run) == ["t2"]
    assert run.error is not None
    assert run.error.task_id == "t2"


def test_chord_error_names_the_lowest_index_failure_when_failures_complete_in_reverse() -> None:
    header = [sig("fail"), sig("add", 1, 1), sig("fail"), sig("fail")]
    run = simulate(
        chord(header, sig("tsum"), linkError=sig("log_error")),
        duration={"t0": 9.0, "t1": 1.0, "t2": 5.0, "t3": 2.0},
    )
    finished = sorted(("t0", "t2", "t3"), key=lambda task_id: run.records[task_id].finished_at or 0)
    assert finished == ["t3", "t2", "t0"]
    body = run.records["t4"]
    assert body.error is not None
    assert body.error.message == "Dependency t0 raised ExpectedException('Task expected to fail')"
    assert body.cause == "t0"
    assert _errback_targets(run) == ["t0"]
    assert run.error is not None
    assert run.error.task_id == "t0"


def test_chord_error_names_the_root_cause_inside_a_header_chain() -> None:
    header = [sig("add", 1, 1), chain(sig("add", 1, 1), sig("fail"), sig("mul", 2)), sig("fail")]
    run = simulate(chord(header, sig("tsum")), order="reverse")
    body = run.records["t5"]
    assert body.error is not None
    assert body.error.message.startswith("Dependency t2 raised")  # t3 was revoked because of t2


def test_nested_chord_error_names_the_inner_root_cause() -> None:
    inner = chord([sig("add", 1, 1), sig("fail")], sig("tsum"))
    run = simulate(chord([sig("add", 2, 2), inner], sig("tsum")))
    outer_body = run.records["t4"]
    assert outer_body.error is not None
    assert outer_body.error.type == "ChordError"
    assert outer_body.error.message.startswith("Dependency t2 raised ExpectedException")
    assert run.error is not None
    assert run.error.task_id == "t2"


@pytest.mark.parametrize("order", ["canvas", "reverse", "random"])
def test_group_errback_once_per_failing_member_nested_flattened(order: str) -> None:
    canvas = group(
        sig("fail"),
        group(sig("fail"), sig("add", 1, 1), group(sig("fail"))),
        chain(sig("fail"), sig("add", 1)),
        chord([sig("fail"), sig("fail")], sig("tsum")),
        {"chunks": {"task": "conftasks.add", "items": [[1, 1], [2, 2], [3, 3]], "size": 2}},
        linkError=[sig("log_error")],
    )
    run = simulate(canvas, order=order, script={"t7": FAIL})  # the second chunk fails
    # members (flattened): t0 | t1 | t2 | t3 | t4,t5 (chain) | t6,t7,t8 (chord) | t9 | t10 chunks
    assert _errback_targets(run) == ["t0", "t1", "t3", "t4", "t6"]
    _no_waiting_task(run)


def test_group_errback_with_chunks_runs_per_failing_chunk() -> None:
    canvas = {
        "chunks": {"task": "conftasks.add", "items": [[1, 1], [2, 2], [3, 3], [4, 4]], "size": 1},
        "linkError": sig("log_error"),
    }
    run = simulate(canvas, script={"t1": FAIL, "t3": FAIL})
    assert _errback_targets(run) == ["t1", "t3"]


@pytest.mark.parametrize("order", ["canvas", "reverse"])
def test_chain_errback_runs_once_for_the_task_that_failed(order: str) -> None:
    canvas = chain(
        sig("add", 1, 1),
        group(sig("fail"), sig("fail"), sig("add", 1)),
        sig("tsum"),
        sig("mul", 2),
        linkError=[sig("log_error"), sig("log_error_id")],
    )
    run = simulate(canvas, order=order)
    assert _errback_targets(run) == ["t1"]
    assert _errback_targets(run, "conftasks.log_error_id") == ["t1"]
    assert run.calls[-1].role == "errback"


def test_errbacks_of_nested_canvases_each_fire() -> None:
    canvas = chain(
        sig("add", 1, 1),
        sig("fail", linkError=sig("log_error_id")),
        sig("mul", 2),
        linkError=sig("log_error"),
    )
    run = simulate(canvas)
    assert _errback_targets(run, "conftasks.log_error_id") == ["t1"]
    assert _errback_targets(run) == ["t1"]


def test_errback_chain_passes_values_along_and_gets_its_own_ids() -> None:
    canvas = sig("fail", linkError=chain(sig("log_error_id"), sig("identity"), sig("echo", "x")))
    run = simulate(canvas)
    errbacks = run.errback_calls()
    assert [call.task_id for call in errbacks] == ["e0.0.0", "e0.0.1", "e0.0.2"]
    assert errbacks[2].args == ["failed: t0", "x"]
    assert run.phase == Phase.FAILED
    assert run.error is not None
    assert run.error.task_id == "t0"
    assert [node.index for node in run.engine.ordered_nodes()] == [0, 1, 2, 3]


def test_immutable_errback_ignores_the_failure() -> None:
    run = simulate(sig("fail", linkError=sig("echo", "fixed", immutable=True)))
    assert [call.args for call in run.errback_calls()] == [["fixed"]]


def test_errback_does_not_fire_for_a_dependency_failure_outside_its_unit() -> None:
    canvas = chain(sig("fail"), sig("add", 1, linkError=sig("log_error")))
    run = simulate(canvas)
    assert not run.errback_calls()  # t1 was revoked because of t0: it did not fail on its own


def test_errback_fires_for_an_expired_task() -> None:
    run = simulate(
        group(sig("add", 1, 1, options={"expires": 0.5}), linkError=sig("log_error")),
        parallelism=1,
        script={},
    )
    assert run.phase == Phase.SUCCEEDED  # one member, nothing waits: it starts at once
    run = simulate(
        group(sig("sleep", 1), sig("add", 1, 1, options={"expires": 0.5}), linkError=sig("log_error")),
        parallelism=1,
    )
    assert run.state("t1") == TaskState.REVOKED
    assert run.records["t1"].reason == "expired"
    assert _errback_targets(run) == ["t1"]
    assert run.error is not None
    assert (run.error.type, run.error.task_id) == ("TaskRevokedError", "t1")


def test_failing_errback_does_not_change_the_root_cause() -> None:
    run = simulate(sig("fail", linkError=sig("fail")))
    assert run.phase == Phase.FAILED
    assert run.error is not None
    assert run.error.task_id == "t0"
    assert run.state("e0.0.0") == TaskState.FAILURE


def test_link_callbacks_run_on_success_with_the_value_and_do_not_change_the_result() -> None:
    canvas = chain(
        sig("add", 1, 1, link=[sig("echo", "cb")]),
        sig("mul", 10),
        link=sig("identity"),
    )
    run = simulate(canvas)
    assert run.result == 20
    assert run.calls_of("conftasks.echo")[0].args == [2, "cb"]
    assert run.calls_of("conftasks.identity")[0].args == [20]
    assert run.records["t1"].state == TaskState.SUCCESS
    assert run.engine.nodes["t1"].role == "callback"


def test_link_on_a_chord_attaches_to_the_body_and_on_a_group_runs_once_with_the_list() -> None:
    run = simulate(
        group(
            chord([sig("add", 1, 1), sig("add", 2, 2)], sig("tsum"), link=sig("echo", "chord")),
            sig("add", 3, 3),
            link=sig("echo", "group"),
        )
    )
    echoes = [call.args for call in run.calls_of("conftasks.echo")]
    assert [6, "chord"] in echoes
    assert [[6, 6], "group"] in echoes
    assert len(echoes) == 2
    assert run.result == [6, 6]


def test_link_callback_of_a_failed_task_is_revoked() -> None:
    run = simulate(sig("fail", link=sig("identity")))
    assert run.state("t1") == TaskState.REVOKED
    assert not run.calls_of("conftasks.identity")


def test_failed_link_callback_fails_the_workflow_but_keeps_the_result() -> None:
    run = simulate(chain(sig("add", 1, 1, link=sig("fail")), sig("mul", 3)))
    assert run.phase == Phase.FAILED
    assert run.result == 6
    assert run.error is not None
    assert run.error.task_id == "t1"


def test_status_error_prefers_the_main_line_over_a_failed_callback() -> None:
    """Celery's res.get() raises the chain's failure, never a side callback's: a callback
    numbered before the failed main-line task must not be named the root cause."""
    canvas = chain(sig("add", 1, 1, link=sig("fail")), sig("mul", 3), sig("fail"))
    run = simulate(canvas, order="reverse")
    assert run.state("t1") == TaskState.FAILURE
    assert run.error is not None
    assert run.error.task_id == "t3"


def test_non_json_return_value_fails_the_task_naming_it() -> None:
    run = simulate(sig("identity", 1), functions={"conftasks.identity": lambda x: {1, 2}})
    error = run.records["t0"].error
    assert error is not None
    assert error.type == "TypeError"
    assert "conftasks.identity" in error.message
    assert "not JSON" in error.message


def test_missing_task_fails_naming_it() -> None:
    run = simulate(sig("nowhere.task"))
    assert run.error is not None
    assert run.error.task == "nowhere.task"
    assert "nowhere.task" in run.error.message


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ({"t1": Succeed(5)}, Phase.SUCCEEDED),
        ({"t1": FAIL}, Phase.FAILED),
    ],
)
def test_script_overrides_the_functions(script: dict[str, Any], expected: Phase) -> None:
    run = simulate(chain(sig("add", 1, 1), sig("fail"), sig("mul", 2)), script=script)
    assert run.phase == expected


@pytest.mark.parametrize(
    "errback",
    [{"group": []}, {"chunks": {"task": "conftasks.add", "items": [], "size": 1}}],
    ids=["empty-group", "empty-chunks"],
)
def test_an_empty_errback_canvas_is_harmless(errback: dict[str, Any]) -> None:
    """Regression: the engine crashed with IndexError when a failure triggered an errback
    canvas with no task in it."""
    run = simulate(group(sig("fail"), sig("add", 1, 1), linkError=[errback, sig("log_error")]))
    assert run.phase == Phase.FAILED
    assert _errback_targets(run) == ["t0"]


def test_engine_tolerates_an_empty_errback_template_in_a_persisted_graph() -> None:
    from dataclasses import replace

    from kubecanvas.graph import ErrbackAttachment
    from support.simulation import compile_canvas

    graph = compile_canvas(sig("fail"))
    graph = replace(graph, errbacks=(ErrbackAttachment("e0", "spec.canvas.linkError[0]", (), (("t0",),)),))
    run = simulate(graph)
    assert run.phase == Phase.FAILED
    assert run.engine.total == 1


def test_errback_runs_are_listed_in_canvas_order_whatever_fails_first() -> None:
    """Errback indices are reserved by attachment and unit, not taken when they fire: the
    local runner and the cluster must print the same document for the same workflow."""
    canvas = group(sig("fail"), sig("identity", 1, immutable=True), sig("fail"), linkError=[sig("log_error")])

    def listing(order: str) -> list[tuple[str, int]]:
        run = simulate(canvas, order=order)  # type: ignore[arg-type]
        return [(node.id, node.index) for node in run.engine.ordered_nodes()]

    assert listing("canvas") == listing("reverse")
    assert [node_id for node_id, _ in listing("reverse")][-2:] == ["e0.0.0", "e0.2.0"]
