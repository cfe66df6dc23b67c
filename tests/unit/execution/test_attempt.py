"""The runtime's execution of one attempt: call building, outcome classification, errbacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kubecanvas.engine.states import TaskFailure
from kubecanvas.execution.attempt import run_attempt
from kubecanvas.execution.errback_calls import required_positional
from kubecanvas.graph.nodes import Input, ListRef, NodeRef, TaskNode
from kubecanvas.store.taskside import FailedTask, TaskInputs

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))


def inputs(
    task: str, *args: object, results: dict[str, object] | None = None, **fields: object
) -> TaskInputs:
    node = TaskNode(id="t1", index=1, task=f"runtime_tasks.{task}", args=tuple(args), **fields)  # type: ignore[arg-type]
    return TaskInputs(node=node, results=dict(results or {}), spec_args=[], spec_kwargs={})


def test_a_success_reports_the_value_and_the_actual_call() -> None:
    execution = run_attempt(inputs("add", 10, results={"t0": 5}, input=Input("value", ref=NodeRef("t0"))), 1)
    assert execution.outcome.kind == "succeeded"
    assert execution.value == 15
    assert (execution.args, execution.kwargs) == ([5, 10], {})


def test_a_chord_body_gets_the_list_of_header_results() -> None:
    ref = ListRef((NodeRef("a"), NodeRef("b")))
    execution = run_attempt(inputs("total", results={"a": 1, "b": 2}, input=Input("value", ref=ref)), 1)
    assert execution.value == 3


def test_a_failure_names_the_exception_and_its_bases() -> None:
    execution = run_attempt(inputs("boom"), 1)
    assert execution.outcome.kind == "failed"
    error = execution.outcome.error
    assert error is not None
    assert (error.type, error.message, error.module) == ("Boom", "it broke", "runtime_tasks")
    assert {"Boom", "runtime_tasks.Boom", "ValueError", "Exception"} <= set(error.types)
    assert "Traceback" in (error.traceback or "")


def test_a_result_that_is_not_json_is_a_failure_naming_the_task() -> None:
    execution = run_attempt(inputs("not_json"), 1)
    assert execution.outcome.kind == "failed"
    assert execution.outcome.error is not None
    assert "runtime_tasks.not_json" in execution.outcome.error.message
    assert "not JSON" in execution.outcome.error.message


def test_a_missing_task_is_a_failure_naming_it() -> None:
    execution = run_attempt(inputs("does_not_exist"), 1)
    assert execution.outcome.kind == "failed"
    assert execution.outcome.error is not None
    assert "runtime_tasks.does_not_exist" in execution.outcome.error.message


def test_self_retry_is_reported_with_its_countdown_and_cause() -> None:
    execution = run_attempt(inputs("asks_for_retry"), 1)
    assert execution.outcome.kind == "retry"
    assert execution.outcome.countdown == 7
    assert execution.outcome.max_retries == 4
    assert execution.outcome.error is not None
    assert execution.outcome.error.type == "KeyError"


def test_the_timeout_option_interrupts_the_task() -> None:
    execution = run_attempt(inputs("slow", options={"timeout": 0.2}), 1)
    assert execution.outcome.kind == "failed"
    assert execution.outcome.error is not None
    assert execution.outcome.error.type == "TimeLimitExceeded"


def test_the_decorator_retry_rule_is_reported_for_the_engine() -> None:
    execution = run_attempt(inputs("decorated", 1), 1)
    assert execution.outcome.task_rule is not None
    assert execution.outcome.task_rule["autoretryFor"] == ["ValueError"]


def test_map_and_starmap_call_the_task_per_item() -> None:
    assert run_attempt(inputs("total", call="map", items=([1, 2], [3])), 1).value == [3, 3]
    assert run_attempt(inputs("add", call="starmap", items=([1, 2], [3, 4])), 1).value == [3, 7]


FAILED = FailedTask(
    node=TaskNode(id="t3", index=3, task="runtime_tasks.boom", args=(1,)),
    args=[1],
    kwargs={"k": 2},
    error=TaskFailure("Boom", "it broke", module="runtime_tasks", traceback="Traceback ..."),
)


def errback(task: str, *args: object, immutable: bool = False) -> TaskInputs:
    node = TaskNode(
        id="e0.0.0",
        index=9,
        task=f"runtime_tasks.{task}",
        args=tuple(args),
        immutable=immutable,
        input=Input("errback", failed="t3"),
        role="errback",
    )
    return TaskInputs(node=node, results={}, spec_args=[], spec_kwargs={}, failed=FAILED)


UID = "3f2a1c9e-7b4d-4e21-9a0c-5d6e7f809a1b"
FAILED_ID = "3f2a1c9e-7b4d-4e21-9a0c-5d6e00000003"  # the failed task t3's own id in workflow UID


def test_a_new_style_errback_gets_request_exception_and_traceback() -> None:
    execution = run_attempt(errback("new_style"), 1, workflow_uid=UID)
    assert execution.value == [
        FAILED_ID,
        "runtime_tasks.boom",
        [1],
        {"k": 2},
        "Boom",
        "it broke",
        "Traceback ...",
    ]


def test_an_old_style_errback_gets_the_task_id() -> None:
    assert run_attempt(errback("old_style"), 1, workflow_uid=UID).value == FAILED_ID


def test_parameters_with_defaults_do_not_count() -> None:
    """Beyond Celery: `def errback(request, exc, traceback, verbose=False)` is still new-style."""
    assert run_attempt(errback("new_style_with_default"), 1).value == "Boom"
    assert required_positional(lambda request, exc, traceback, verbose=False: None) == 3


def test_errback_partial_args_come_after_the_failure() -> None:
    assert run_attempt(errback("old_style_with_extra", "x"), 1, workflow_uid=UID).value == [FAILED_ID, "x"]


def test_an_immutable_errback_gets_only_its_own_args() -> None:
    assert run_attempt(errback("echo", "only", immutable=True), 1).value == ["only"]


@pytest.mark.parametrize("heavy", ["pydantic", "kubernetes", "kopf", "yaml"])
def test_running_a_task_imports_nothing_heavy(tmp_path: Path, heavy: str) -> None:
    """Every task pod pays for what the runtime imports: keep it to redis and the standard library."""
    request = tmp_path / "in.json"
    request.write_text(json.dumps(inputs("add", 1, 2).to_json()))
    probe = (
        "import runpy, sys; sys.path.insert(0, sys.argv[3])\n"
        "sys.argv = ['kubecanvas-runtime', '--input', sys.argv[1], '--outcome', sys.argv[2]]\n"
        "try:\n runpy.run_module('kubecanvas_runtime', run_name='__main__')\n"
        "except SystemExit: pass\n"
        "print(' '.join(sorted(name for name in sys.modules if '.' not in name)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(request), str(tmp_path / "out.json"), str(HERE)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads((tmp_path / "out.json").read_text())["value"] == 3
    assert heavy not in result.stdout.split()
