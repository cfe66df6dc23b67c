"""Tasks for the runtime's unit tests."""

from __future__ import annotations

import time
from typing import Any

from kubecanvas import task


class Boom(ValueError):
    pass


def add(x: int, y: int) -> int:
    return x + y


def total(numbers: list[int]) -> int:
    return sum(numbers)


def boom(*args: Any, **kwargs: Any) -> None:
    raise Boom("it broke")


def not_json() -> object:
    return {1, 2}


@task(bind=True)
def asks_for_retry(self: Any) -> None:
    try:
        {}["missing"]
    except KeyError as error:
        raise self.retry(countdown=7, max_retries=4, exc=error) from None


def slow() -> None:
    time.sleep(5)


@task(autoretry_for=(ValueError,), max_retries=2)
def decorated(x: int) -> int:
    return x


def new_style(request: Any, exc: BaseException, traceback: str) -> list[Any]:
    return [
        request.id,
        request.task,
        list(request.args),
        dict(request.kwargs),
        type(exc).__name__,
        str(exc),
        traceback,
    ]


def new_style_with_default(request: Any, exc: BaseException, traceback: str, verbose: bool = False) -> str:
    return type(exc).__name__


def old_style(task_id: str) -> str:
    return task_id


def old_style_with_extra(task_id: str, extra: str) -> list[str]:
    return [task_id, extra]


def echo(*args: Any) -> list[Any]:
    return list(args)
