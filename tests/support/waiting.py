"""Wait on a condition with a deadline, never a fixed sleep, and say what was awaited on failure."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

POLL_INTERVAL = 0.1


def wait_until(predicate: Callable[[], T], timeout: float = 30, what: str = "a condition") -> T:
    """Call `predicate` until it returns something truthy, and return that.

    On timeout the test fails with `what` and the last value the predicate returned (or the
    exception it raised), which is usually all one needs to see why.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
        except Exception as error:  # noqa: BLE001 - a lookup racing the object's creation is no answer yet
            value, last = None, error  # type: ignore[assignment]
        else:
            last = value
            if value:
                return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}; last observed: {last!r}")
        time.sleep(POLL_INTERVAL)
