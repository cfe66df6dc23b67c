"""`run_eagerly` (Celery's `.apply()`): the contract cases in-process, and the
EagerResult a caller relies on."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from contract.cases import CASES, EXAMPLES, Case, Observed, verify
from kubecanvas.errors import InvalidWorkflow, TaskRevokedError
from kubecanvas.local import load_yaml, run_eagerly
from local.helpers import HERE


@pytest.fixture(autouse=True)
def _tasks_importable() -> Iterator[None]:
    """Eager mode imports tasks in this process, like Celery's: put them on sys.path."""
    added = [str(EXAMPLES.parent), str(HERE)]
    sys.path[:0] = added
    yield
    for path in added:
        sys.path.remove(path)


@pytest.mark.parametrize(
    "case", [case for case in CASES if case.revoke_after is None], ids=lambda case: case.id
)
def test_contract_case_runs_eagerly(case: Case) -> None:
    result = run_eagerly(load_yaml(case.path.read_text()))
    verify(case, Observed(dict(result.document()), result.started_at))


def test_success_behaves_like_celery_eager_result() -> None:
    result = run_eagerly(
        {"chain": [{"task": "conftasks.add", "args": [4, 4]}, {"task": "conftasks.mul", "args": [2]}]}
    )
    assert result.get() == 16
    assert (result.state, result.result, result.successful(), result.failed()) == ("SUCCESS", 16, True, False)
    assert result.traceback is None


def test_failure_raises_the_original_exception_class() -> None:
    import conftasks

    result = run_eagerly({"chain": [{"task": "conftasks.add", "args": [1, 2]}, {"task": "conftasks.fail"}]})
    assert (result.state, result.successful(), result.failed()) == ("FAILURE", False, True)
    with pytest.raises(conftasks.ExpectedException, match="Task expected to fail"):
        result.get()
    assert isinstance(result.get(propagate=False), conftasks.ExpectedException)
    assert isinstance(result.result, conftasks.ExpectedException)
    assert result.traceback is not None
    assert 'raise ExpectedException("Task expected to fail")' in result.traceback


def test_a_chord_failure_raises_the_header_failure_not_a_chord_error() -> None:
    import conftasks

    canvas = {"chord": {"header": [{"task": "conftasks.fail"}], "body": {"task": "conftasks.tsum"}}}
    with pytest.raises(conftasks.ExpectedException):
        run_eagerly(canvas).get()


def test_revoked_raises_task_revoked_error() -> None:
    manifest = load_yaml(case_path(30).read_text())
    manifest["spec"]["revoke"] = True
    result = run_eagerly(manifest)
    assert result.state == "REVOKED"
    with pytest.raises(TaskRevokedError):
        result.get()


def case_path(number: int) -> Any:
    (found,) = [case for case in CASES if case.number == number]
    return found.path


def test_call_time_arguments_are_prepended_and_kwargs_merged() -> None:
    # echo.s(1, a=1, b=2) with spec args [2] and kwargs {b: 3, c: 4}
    manifest = load_yaml(case_path(3).read_text())
    result = run_eagerly(manifest, args=[0], kwargs={"c": 5, "d": 6})
    assert result.get() == [[0, 2, 1], {"a": 1, "b": 3, "c": 5, "d": 6}]
    assert run_eagerly({"task": "conftasks.sub", "args": [10]}, args=(30,)).get() == 20


def test_tasks_see_their_identity_and_env_only_while_they_run() -> None:
    names = ("KUBECANVAS_TASK_ID", "KUBECANVAS_ATTEMPT", "GREETING")
    before = {name: os.environ.get(name) for name in names}
    env = {"env": [{"name": "GREETING", "value": "hello"}]}
    result = run_eagerly(
        {
            "group": [
                {"task": "localtasks.whoami"},
                {"task": "localtasks.getenv", "args": ["GREETING"], "options": env},
            ]
        }
    )
    assert result.get() == [["t0", "1", "eager"], "hello"]
    assert {name: os.environ.get(name) for name in names} == before


def test_retry_requested_by_the_task() -> None:
    result = run_eagerly({"task": "localtasks.retry_once"})
    assert result.get() == 2
    assert result.document()["tasks"][0]["attempts"] == 2


def test_invalid_canvas_is_refused_with_the_field_path() -> None:
    with pytest.raises(InvalidWorkflow) as raised:
        run_eagerly({"chord": {"header": []}})
    assert [str(problem) for problem in raised.value.problems] == ["spec.canvas.chord: 'body' is required"]


def test_not_a_mapping_is_refused() -> None:
    with pytest.raises(InvalidWorkflow, match="expected a canvas or a Workflow mapping"):
        run_eagerly(["conftasks.add"])  # type: ignore[arg-type]


def test_sdk_apply_runs_eagerly() -> None:
    from kubecanvas.sdk.signatures import signature

    result = signature("conftasks.add", (2, 2)).apply()
    assert result.get() == 4
    chained = (signature("conftasks.add", (4,)) | signature("conftasks.mul", (8,))).apply((16,))
    assert chained.get() == 160


def test_apply_from_another_thread_with_a_timeout() -> None:
    """SIGALRM only works in the main thread: a web server's worker thread must still run tasks."""
    import threading

    results: list[Any] = []
    canvas = {"task": "conftasks.add", "args": [1, 2], "options": {"timeout": 5}}
    worker = threading.Thread(target=lambda: results.append(run_eagerly(canvas).get()))
    worker.start()
    worker.join(30)
    assert results == [3]
