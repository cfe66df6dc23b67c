"""Tasks for test_runner.py, found by import path in the runner's forked processes."""

from __future__ import annotations

import os
import signal
import time

_remembered: list[object] = []


def whoami() -> int:
    return os.getpid()


def remember(value: object) -> int:
    _remembered.append(value)
    return len(_remembered)


def recall() -> list[object]:
    return list(_remembered)


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def deaf_nap(seconds: float) -> float:
    """Sleep, deaf to the task's own time limit (SIGALRM): only its runner can stop it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(seconds)
    return seconds


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def vanish(code: int) -> None:
    """End the process without a report, as a runtime that lost Redis does."""
    os._exit(code)
