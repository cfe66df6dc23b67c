"""Tasks that misbehave on purpose, for the local runner's tests (imported by the
child processes through `code_dir`, and in-process by the eager tests)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from kubecanvas.errors import Retry


def whoami() -> list[str | None]:
    return [
        os.environ.get(name) for name in ("KUBECANVAS_TASK_ID", "KUBECANVAS_ATTEMPT", "KUBECANVAS_WORKFLOW")
    ]


def getenv(name: str) -> str | None:
    return os.environ.get(name)


def exit_with(code: int) -> None:
    """End the process without reporting, as an OOM kill or a crash would."""
    os._exit(code)


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def die_on_first_attempt() -> int:
    attempt = int(os.environ["KUBECANVAS_ATTEMPT"])
    if attempt == 1:
        os._exit(9)
    return attempt


def stubborn_sleep(seconds: float) -> float:
    """Sleep through SIGTERM and SIGALRM: only SIGKILL stops it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGTERM})
    print("stubborn: SIGTERM blocked", flush=True)  # tests wait for this line, not a fixed time
    time.sleep(seconds)
    return seconds


def napping(seconds: float) -> list[float]:
    """Sleep and say when it ran, to see how many ran at once."""
    start = time.time()
    time.sleep(seconds)
    return [start, time.time()]


def retry_once() -> int:
    attempt = int(os.environ["KUBECANVAS_ATTEMPT"])
    if attempt == 1:
        raise Retry(countdown=0.2)
    return attempt


def not_json() -> Any:
    return {1, 2}
