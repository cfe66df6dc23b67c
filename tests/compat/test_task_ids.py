"""A task's own id (`self.request.id`) is Celery's: a UUID, unique to the task and the run,
the same through the task's retries, and the id of the task's own result. The canvas
guide's errback, which files each failure under `request.id`, keeps one file per failure
across runs. Custom headers reach `self.request` as in Celery 5."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kubecanvas import InvalidWorkflow, group


@pytest.fixture
def errors_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ERRORS_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("backend", ["local", "eager"])
def test_each_failure_is_filed_under_its_own_task_id(proj: object, backend: str, errors_dir: Path) -> None:
    from proj.celery import app
    from proj.errbacks import divide, log_error

    app.conf.kubecanvas_backend = backend
    runs = [divide.s(1, 0).on_error(log_error.s()).delay() for _ in range(2)]
    failed_ids = set()
    for result in runs:
        assert isinstance(result.get(propagate=False), ZeroDivisionError)
        (failed,) = [task for task in result.document()["tasks"] if task["task"] == "proj.errbacks.divide"]
        failed_ids.add(failed["uuid"])
    assert len(failed_ids) == 2, "two runs, two task ids"
    assert {path.name for path in errors_dir.iterdir()} == failed_ids
    for failed_id in failed_ids:
        text = (errors_dir / failed_id).read_text()
        assert text.startswith(f"--\n\n{failed_id} division by zero Traceback")


@pytest.mark.parametrize("backend", ["local", "eager"])
def test_a_task_keeps_its_id_through_retries_and_it_is_its_results_id(
    proj: object, backend: str, errors_dir: Path
) -> None:
    from proj.celery import app
    from proj.errbacks import own_id

    app.conf.kubecanvas_backend = backend
    result = group(own_id.s(), own_id.s())()
    ids = result.get()
    seen = (errors_dir / "seen").read_text().split()
    assert sorted(seen) == sorted(ids * 2), "each task saw the same id in both attempts"
    assert len(set(ids)) == 2
    assert all(uuid.UUID(task_id).version == 4 for task_id in ids)
    assert [member.id for member in result.results] == ids
    assert [member.task_id for member in result.results] == ids


@pytest.mark.parametrize("backend", ["local", "eager"])
def test_custom_headers_reach_the_task_as_in_celery_5(proj: object, backend: str) -> None:
    from proj.celery import app
    from proj.errbacks import traced

    app.conf.kubecanvas_backend = backend
    headers = {"trace_id": "abc", "when": datetime(2026, 12, 4, tzinfo=UTC)}
    assert traced.apply_async(headers=headers).get() == [headers, "abc", "abc"]
    assert traced.s().set(headers={"trace_id": "set"}).delay().get()[1] == "set"
    assert app.send_task("proj.errbacks.traced", headers={"trace_id": "sent"}).get()[2] == "sent"


def test_a_header_that_is_not_json_is_named(proj: object) -> None:
    from proj.errbacks import traced

    with pytest.raises(InvalidWorkflow, match=r"headers\.span: object .* is not a JSON value"):
        traced.apply_async(headers={"span": object()})


@pytest.mark.parametrize("backend", ["local", "eager"])
def test_task_id_gives_a_task_its_id_as_in_celery(proj: object, backend: str, errors_dir: Path) -> None:
    """`apply_async(task_id=...)` and `.set(task_id=...)`: the task's `self.request.id` (through
    its retry), its result's `id`, and what its errback is told failed."""
    from proj.celery import app
    from proj.errbacks import divide, log_error, own_id

    app.conf.kubecanvas_backend = backend
    chosen = str(uuid.uuid4())
    result = own_id.apply_async(task_id=chosen)
    assert (result.id, result.task_id) == (chosen, chosen)
    assert result.get() == chosen
    assert (errors_dir / "seen").read_text().split() == [chosen, chosen]
    assert result.document()["tasks"][0]["uuid"] == chosen

    failing = divide.s(1, 0).set(task_id="my-division").on_error(log_error.s()).delay()
    assert isinstance(failing.get(propagate=False), ZeroDivisionError)
    assert (errors_dir / "my-division").read_text().startswith("--\n\nmy-division division by zero")

    both = group(own_id.s().set(task_id="first"), own_id.s())()
    ids = both.get()
    assert ids[0] == "first"
    assert uuid.UUID(ids[1]).version == 4, "a task not given an id still gets its own"
    assert [member.id for member in both.results] == ids


def test_a_task_id_given_twice_or_to_more_than_one_task_is_refused_by_path(proj: object) -> None:
    from proj.errbacks import own_id

    with pytest.raises(
        InvalidWorkflow, match=r"canvas\.group\[1\]\.options\.taskId: 'x' is already the id of "
    ):
        group(own_id.s().set(task_id="x"), own_id.s().set(task_id="x")).apply()
    with pytest.raises(InvalidWorkflow, match=r"taskId is the id of one task: .* not a group's"):
        group(own_id.s(), own_id.s()).apply_async(task_id="y")
    with pytest.raises(
        InvalidWorkflow, match=r"options\.taskId: 'has space' is not valid here \(expected a task id"
    ):
        own_id.apply_async(task_id="has space")
    # an errback's tasks count, and one run per failed group member cannot share one id
    with pytest.raises(InvalidWorkflow, match=r"'z' is already the id of .*chain\[0\]"):
        (own_id.s().set(task_id="z") | own_id.s()).on_error(own_id.si().set(task_id="z")).apply()
    with pytest.raises(
        InvalidWorkflow, match=r"'w' would be the id of each of the 2 runs of this errback \(one per failed"
    ):
        group(own_id.s(), own_id.s()).on_error(own_id.si().set(task_id="w")).apply()


def test_task_id_is_one_calls_not_a_tasks_default(proj: object) -> None:
    from proj.celery import app

    with pytest.raises(TypeError, match=r"task_id is one call's id, not the task's"):
        app.task(task_id="same-for-every-call")(lambda: None)
