"""Tasks and signatures called in-process, `self.request` and `self.retry()`."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sdk_tasks
from sdk_tasks import (
    ExpectedException,
    add,
    calls_itself,
    double,
    echo,
    plain_add,
    retry_bare,
    retry_while_handling,
    retrying,
    sub,
    tsum,
    whoami,
)

from kubecanvas import Request, Retry, Task, chunks, signature, task, xmap, xstarmap
from kubecanvas.sdk import current_request, executing


def test_a_task_is_its_function() -> None:
    assert add(2, 2) == 4
    assert add(1, 2, z=3) == 6
    assert add.__name__ == "add"
    assert add.__doc__ is None
    assert add.__wrapped__ is not None
    assert double.__doc__ == "Named by its dotted path: sdk_tasks.double."


def test_default_name_is_the_dotted_path() -> None:
    assert double.name == "sdk_tasks.double"
    assert add.name == "conftasks.add"
    assert signature(plain_add).task == "sdk_tasks.plain_add"
    assert repr(double) == "<@task: sdk_tasks.double>"


def test_signature_call_prepends_partial_args() -> None:
    assert add.s(2)(2) == 4
    assert sub.s(10)(30) == 20  # contract 3.1: sub(30, 10)
    assert echo.s(1, a=1, b=2)(2, b=3, c=4) == [[2, 1], {"a": 1, "b": 3, "c": 4}]  # contract 3.2


def test_immutable_signature_call_ignores_partial_args() -> None:
    assert echo.si(1, a=1)(2, b=3) == [[1], {"a": 1}]  # contract 3.4


def test_signature_by_name_imports_the_function() -> None:
    assert signature("sdk_tasks.plain_add", args=(2, 2))() == 4
    assert signature("sdk_tasks.double")(21) == 42
    assert signature(plain_add, (1,))(2) == 3


def test_signature_by_unknown_name_says_which() -> None:
    with pytest.raises(ImportError, match="'sdk_tasks' has no 'nope'"):
        signature("sdk_tasks.nope")()
    with pytest.raises(ImportError, match="no importable module"):
        signature("no_such_module_here.f")()


def test_map_and_starmap_run_in_process_like_celery() -> None:
    assert tsum.map([[0, 1, 2], [3, 4]])() == [3, 7]
    assert add.starmap([[0, 0], [1, 1]])() == [0, 2]
    assert xmap("sdk_tasks.double", [1, 2])() == [2, 4]
    assert xstarmap(plain_add, [(1, 2)])() == [3]


def test_chunks_group_runs_as_starmaps() -> None:
    grouped = chunks(add, [[i, i] for i in range(5)], 2).group()
    assert [part() for part in grouped.tasks if isinstance(part, xstarmap)] == [[0, 2], [4, 6], [8]]


def test_bound_task_called_directly_sees_a_direct_request() -> None:
    assert whoami() == {
        "task": "sdk_tasks.whoami",
        "id": None,
        "attempt": 1,
        "retries": 0,
        "called_directly": True,
    }
    assert whoami.request.called_directly
    assert whoami.s()()["called_directly"] is True


def test_bound_task_under_the_runtime_sees_the_runtime_request() -> None:
    request = Request(id="t3", task="sdk_tasks.whoami", attempt=3, workflow="wf", namespace="ns")
    with executing(request):
        assert whoami() == {
            "task": "sdk_tasks.whoami",
            "id": "t3",
            "attempt": 3,
            "retries": 2,
            "called_directly": False,
        }
        assert whoami.request is request
    assert current_request.get() is None


def test_the_runtime_may_call_run_too() -> None:
    request = Request(id="t1", task="sdk_tasks.whoami")
    with executing(request):
        assert whoami.run()["id"] == "t1"


def test_a_task_calling_itself_directly_gets_a_direct_request() -> None:
    with executing(Request(id="t1", task=calls_itself.name)):
        assert calls_itself(2) == [False, True, True]


def test_a_task_called_from_another_task_gets_a_direct_request() -> None:
    with executing(Request(id="t1", task="conftasks.add")):
        assert whoami()["called_directly"] is True
        assert whoami.request.called_directly


def test_requests_do_not_leak_between_threads() -> None:
    seen: list[bool] = []
    with executing(Request(id="t1", task=whoami.name)):
        thread = threading.Thread(target=lambda: seen.append(whoami.request.called_directly))
        thread.start()
        thread.join()
    assert seen == [True]


def test_retry_called_directly_raises_the_given_exception() -> None:
    with pytest.raises(ValueError, match="negative"):
        retrying(-1)
    assert retrying(5) == 5


def test_retry_called_directly_reraises_the_exception_being_handled() -> None:
    with pytest.raises(KeyError, match="missing"):
        retry_while_handling()


def test_retry_called_directly_without_an_exception_raises_retry() -> None:
    with pytest.raises(Retry) as raised:
        retry_bare()
    assert raised.value.countdown == 3


def test_retry_under_the_runtime_raises_retry_with_the_exception() -> None:
    with executing(Request(id="t1", task=retrying.name, attempt=1)), pytest.raises(Retry) as raised:
        retrying(-1)
    assert isinstance(raised.value.exc, ValueError)
    assert raised.value.countdown == 2
    assert raised.value.max_retries is None


def test_retry_under_the_runtime_names_the_handled_exception_but_fails_as_celery_does() -> None:
    """A bare `self.retry()` inside `except`: the retry says why, and past the last retry the
    task fails with MaxRetriesExceededError, not the handled error (Celery raises `exc` only
    when it is given)."""
    with executing(Request(id="t1", task=retry_while_handling.name)), pytest.raises(Retry) as raised:
        retry_while_handling()
    assert raised.value.exc is None
    assert "KeyError" in str(raised.value)
    assert raised.value.countdown is None  # the retry rule's delay applies


def test_retry_with_eta_becomes_a_countdown() -> None:
    from datetime import UTC, datetime, timedelta

    @task(bind=True)
    def later(self: Task[Any, Any]) -> None:
        self.retry(eta=datetime.now(UTC) + timedelta(seconds=60), max_retries=9)

    with executing(Request(task=later.name)), pytest.raises(Retry) as raised:
        later()
    assert raised.value.countdown is not None
    assert 55 < raised.value.countdown <= 60
    assert raised.value.max_retries == 9


def test_flaky_counts_attempts_from_the_request() -> None:
    flaky = sdk_tasks.flaky
    with pytest.raises(ExpectedException):
        flaky("k", 2)
    with executing(Request(id="t", task=flaky.name, attempt=3)):
        assert flaky("k", 2) == 3


def test_decorator_without_parentheses_and_with_empty_ones() -> None:
    @task
    def one() -> int:
        return 1

    @task()
    def two() -> int:
        return 2

    assert (one(), two()) == (1, 2)
    assert "<locals>" in one.name  # not importable by the runtime: to_canvas says so (test_sdk_errors)
