"""The contract's helper tasks (../shared/canvas-semantics.md, section 5).

Plain functions: kubecanvas runs any importable function named by dotted path.
"""

from __future__ import annotations

import os
import time
from typing import Any


class ExpectedException(Exception):  # the contract's name
    """Raised on purpose by `fail`."""


def add(x: Any, y: Any, z: Any = None) -> Any:
    return x + y if z is None else x + y + z


def mul(x: Any, y: Any) -> Any:
    return x * y


def sub(x: Any, y: Any) -> Any:
    return x - y


def tsum(nums: list[Any]) -> Any:
    return sum(nums)


def xsum(nums: list[Any]) -> Any:
    """Sum of numbers and of the numbers inside lists."""
    return sum(sum(num) if isinstance(num, list) else num for num in nums)


def identity(x: Any) -> Any:
    return x


def echo(*args: Any, **kwargs: Any) -> list[Any]:
    return [list(args), kwargs]


def fail(*args: Any) -> None:
    raise ExpectedException("Task expected to fail")


def flaky(key: str, times: int) -> int:
    """Fail the first `times` attempts, then return the attempt number.

    The attempt comes from KUBECANVAS_ATTEMPT, which the runtime sets in the local
    runner and on the cluster alike; `key` names the scenario in logs."""
    attempt = int(os.environ.get("KUBECANVAS_ATTEMPT", "1"))
    if attempt <= times:
        raise RuntimeError(f"flaky {key}: attempt {attempt} of the first {times} fails")
    return attempt


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def log_error(request: Any, exc: BaseException, traceback: str) -> str:
    """A new-style errback: it receives the failed task's request, exception and traceback."""
    return f"{request.task}[{request.id}] raised {type(exc).__name__}: {exc}"


def log_error_id(task_id: str) -> str:
    """An old-style errback: one required positional parameter, the failed task's id."""
    return f"failed: {task_id}"
