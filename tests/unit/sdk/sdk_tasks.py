"""Tasks for the SDK tests: the contract's helper tasks (named `conftasks.*`, as in
the contract's cases) and a few more for bind, retries and default names."""

from __future__ import annotations

import time
from typing import Any

from kubecanvas import Task, task


class ExpectedException(Exception):
    """What `fail` raises."""


@task(name="conftasks.add")
def add(x: int, y: int, z: int | None = None) -> int:
    return x + y + (z or 0)


@task(name="conftasks.mul")
def mul(x: int, y: int) -> int:
    return x * y


@task(name="conftasks.sub")
def sub(x: int, y: int) -> int:
    return x - y


@task(name="conftasks.tsum")
def tsum(nums: list[int]) -> int:
    return sum(nums)


@task(name="conftasks.identity")
def identity(x: Any) -> Any:
    return x


@task(name="conftasks.echo")
def echo(*args: Any, **kwargs: Any) -> list[Any]:
    return [list(args), kwargs]


@task(name="conftasks.fail")
def fail(*args: Any) -> None:
    raise ExpectedException("Task expected to fail")


@task(name="conftasks.flaky", bind=True)
def flaky(self: Task[Any, Any], key: str, times: int) -> int:
    if self.request.attempt <= times:
        raise ExpectedException(f"{key}: attempt {self.request.attempt} of {times} failing")
    return self.request.attempt


@task(name="conftasks.sleep")
def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@task(name="conftasks.log_error")
def log_error(request: Any, exc: BaseException, traceback: str) -> None:
    return None


# -- default names, bind, retries ----------------------------------------------------


@task
def double(x: int) -> int:
    """Named by its dotted path: sdk_tasks.double."""
    return 2 * x


def plain_add(x: int, y: int) -> int:
    """Not decorated: a task all the same, by dotted path."""
    return x + y


@task(bind=True)
def whoami(self: Task[Any, Any]) -> dict[str, Any]:
    request = self.request
    return {
        "task": request.task,
        "id": request.id,
        "attempt": request.attempt,
        "retries": request.retries,
        "called_directly": request.called_directly,
    }


@task(bind=True, max_retries=5, default_retry_delay=7)
def retrying(self: Task[Any, Any], value: int) -> int:
    try:
        if value < 0:
            raise ValueError("negative")
    except ValueError as error:
        self.retry(exc=error, countdown=2)
    return value


@task(bind=True)
def retry_while_handling(self: Task[Any, Any]) -> None:
    try:
        raise KeyError("missing")
    except KeyError:
        self.retry()


@task(bind=True)
def retry_bare(self: Task[Any, Any]) -> None:
    self.retry(countdown=3)


@task(bind=True)
def calls_itself(self: Task[Any, Any], depth: int) -> list[bool]:
    """Each level reports whether it runs under the runtime's request."""
    here = [self.request.called_directly]
    return here + (calls_itself(depth - 1) if depth else [])


@task(autoretry_for=(ValueError, ExpectedException), retry_backoff=True)
def backing_off() -> None:
    return None


@task(
    retry_backoff=5,
    retry_backoff_max=60,
    retry_jitter=False,
    max_retries=None,
    autoretry_for=KeyError,
    time_limit=30,
    image="python:3.11-slim",
    node_selector={"pool": "cpu"},
    env={"MODE": "fast"},
)
def configured(x: int) -> int:
    return x


@task(name="sdk_tasks.describe_values")
def describe_values(when: Any, amount: Any, ident: Any, blob: Any) -> dict[str, Any]:
    """What a task receives, by type, and values of those types back."""
    import uuid
    from datetime import datetime, timedelta
    from decimal import Decimal

    assert isinstance(when, datetime), when
    assert isinstance(amount, Decimal), amount
    assert isinstance(ident, uuid.UUID), ident
    assert isinstance(blob, bytes), blob
    return {"later": when + timedelta(days=1), "double": amount * 2, "ident": ident, "blob": blob[::-1]}


class Recorded(Task[Any, Any]):
    """A Celery-style Task class: its handlers write down what they were called with."""

    max_retries = 1
    default_retry_delay = 0
    calls: list[tuple[Any, ...]] = []

    def before_start(self, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.calls.append(("before_start", self.name, args, kwargs, self.request.called_directly))

    def on_success(self, retval: Any, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.calls.append(("on_success", retval, task_id))

    def on_failure(
        self, exc: BaseException, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], einfo: Any
    ) -> None:
        self.calls.append(("on_failure", repr(exc), "Traceback" in einfo.traceback))

    def on_retry(
        self, exc: BaseException, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], einfo: Any
    ) -> None:
        self.calls.append(("on_retry", repr(exc)))

    def after_return(  # noqa: PLR0917 - Celery's signature
        self,
        status: str,
        retval: Any,
        task_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        einfo: Any,
    ) -> None:
        self.calls.append(("after_return", status, repr(retval)))


@task(base=Recorded, name="sdk_tasks.recorded_add")
def recorded_add(x: int, y: int) -> int:
    return x + y


@task(base=Recorded, bind=True, name="sdk_tasks.recorded_flaky", autoretry_for=(KeyError,))
def recorded_flaky(self: Task[Any, Any], key: str) -> str:
    if self.request.attempt == 1:
        raise KeyError(key)
    return key


@task(base=Recorded, name="sdk_tasks.recorded_fail")
def recorded_fail() -> None:
    raise ValueError("no")


@task(name="sdk_tasks.soft_cleanup")
def soft_cleanup(seconds: float, again: bool = False) -> str:
    from kubecanvas import SoftTimeLimitExceeded

    try:
        time.sleep(seconds)
    except SoftTimeLimitExceeded:
        if again:  # a task that goes on regardless meets the hard limit
            time.sleep(seconds)
        return "cleaned up"
    return "finished"


@task(name="sdk_tasks.soft_ignored")
def soft_ignored(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@task(name="sdk_tasks.raise_it")
def raise_it(kind: str, *args: Any) -> None:
    import builtins

    raise getattr(builtins, kind)(*args)
