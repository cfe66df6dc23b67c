"""Custom Task classes as Celery has them: `@task(base=MyTask)`, class attributes as defaults,
and the handlers run around each attempt where the task runs (here: eagerly, through the
same `run_attempt` a pod uses), never when the task is called directly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sdk_tasks import Recorded, recorded_add, recorded_fail, recorded_flaky

from kubecanvas import Task, task


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    Recorded.calls.clear()
    yield
    Recorded.calls.clear()


def test_handlers_run_around_a_successful_attempt() -> None:
    result = recorded_add.s(2, 3).apply()
    assert result.get() == 5
    assert Recorded.calls == [
        ("before_start", "sdk_tasks.recorded_add", (2, 3), {}, False),
        ("on_success", 5, result.document()["tasks"][0]["uuid"]),  # the task's own id
        ("after_return", "SUCCESS", "5"),
    ]


def test_a_retry_then_success_runs_on_retry_then_on_success() -> None:
    assert recorded_flaky.s("k").apply().get() == "k"
    names = [call[0] for call in Recorded.calls]
    assert names == ["before_start", "on_retry", "after_return", "before_start", "on_success", "after_return"]
    assert Recorded.calls[1] == ("on_retry", "KeyError('k')")
    assert Recorded.calls[2] == ("after_return", "RETRY", "KeyError('k')")


def test_a_failure_runs_on_failure_with_its_traceback() -> None:
    result = recorded_fail.s().apply()
    with pytest.raises(ValueError, match="no"):
        result.get()
    assert Recorded.calls[1:] == [
        ("on_failure", "ValueError('no')", True),
        ("after_return", "FAILURE", "ValueError('no')"),
    ]


def test_called_directly_no_handler_runs() -> None:
    assert recorded_add(1, 1) == 2
    assert Recorded.calls == []


def test_class_attributes_are_the_defaults_and_settings_win() -> None:
    assert recorded_add.max_retries == 1
    assert recorded_add.retry_rule()["max"] == 1

    @task(base=Recorded, max_retries=4)
    def other() -> None: ...

    assert other.retry_rule()["max"] == 4
    assert isinstance(other, Recorded)


def test_celery_settings_are_accepted_with_their_meaning_here() -> None:
    @task(retry_kwargs={"max_retries": 7, "countdown": 3}, ignore_result=True, acks_late=True)
    def quiet() -> None: ...

    assert (quiet.retry_rule()["max"], quiet.retry_rule()["delay"]) == (7, 3.0)
    assert quiet.ignore_result


def test_what_means_nothing_here_says_what_to_use() -> None:
    with pytest.raises(
        TypeError, match=r"rate_limit=\.\.\.\) is not supported: limit how many tasks run at once"
    ):
        task(rate_limit="10/m")(lambda: None)
    with pytest.raises(TypeError, match=r"retry_kwargs \['exc'\] mean nothing here"):
        task(retry_kwargs={"exc": ValueError()})(lambda: None)
    with pytest.raises(TypeError, match=r"takes a subclass of kubecanvas\.Task"):
        task(base=dict)(lambda: None)  # type: ignore[arg-type]
    assert issubclass(Recorded, Task)
