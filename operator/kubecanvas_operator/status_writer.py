"""The Workflow's status: built small, written at most once per interval.

Per-task state lives in Redis. The status carries a fixed set of fields whatever the
workflow's size, and a 500-task fan-out costs a handful of status writes, not 1,500.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas._kits.timestamps import to_rfc3339
from kubecanvas.engine.machine import Engine
from kubecanvas.engine.states import Phase, TaskState
from kubecanvas.errors import KubeApiError
from kubecanvas.report.status import workflow_status

__all__ = ["StatusWriter", "duration_text", "invalid_status", "status_of"]

logger = logging.getLogger(__name__)


def duration_text(seconds: float) -> str:
    """`kubectl`'s style: 45s, 3m12s, 2h5m, 3d4h."""
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h"


def status_of(engine: Engine, results: dict[str, JSON], now: float) -> JSONObject:
    status = workflow_status(engine, results)
    # A merge patch cannot drop keys: report every state, zeros included.
    status["counts"] = {state.value: engine.counts().get(state.value, 0) for state in TaskState}
    if engine.started_at is not None:
        status["duration"] = duration_text((engine.finished_at or now) - engine.started_at)
    finished = engine.phase.finished
    status["conditions"] = [
        _condition(
            "Completed", finished, engine.phase.value, str(status["message"]), engine.finished_at or now
        ),
        _condition(
            "Failed",
            engine.phase == Phase.FAILED,
            engine.phase.value,
            str(status["message"]),
            engine.finished_at or now,
        ),
    ]
    return status


def invalid_status(message: str, problems: list[str], now: float) -> JSONObject:
    """A Workflow that cannot run: Failed at once, saying where and why."""
    status = ended_status("InvalidWorkflow", message, now)
    status.update(progress="0/0", total=0, problems=list(problems))
    return status


def ended_status(reason: str, message: str, now: float) -> JSONObject:
    """A Workflow the operator ends Failed without its engine (invalid, or its state lost):
    merged into what the status said, so its progress stays as it last was."""
    return {
        "phase": Phase.FAILED.value,
        "message": message,
        "error": {"task": None, "taskId": None, "type": reason, "message": message},
        "finishedAt": to_rfc3339(now),
        "conditions": [
            _condition("Completed", True, reason, message, now),
            _condition("Failed", True, reason, message, now),
        ],
    }


def _condition(kind: str, true: bool, reason: str, message: str, at: float) -> JSONObject:
    return {
        "type": kind,
        "status": "True" if true else "False",
        "reason": reason,
        "message": message if true else "",
        "lastTransitionTime": to_rfc3339(at),
    }


class StatusWriter:
    """Coalesces status writes of one workflow: the latest state wins.

    Writes never overlap and a write in progress is never cancelled: the API call runs in
    a thread that a cancelled coroutine would not stop, so an older status could land
    after the final one and leave a finished Workflow showing Running.
    """

    def __init__(
        self,
        build: Callable[[], Awaitable[JSONObject]],
        write: Callable[[JSONObject], Awaitable[Any]],
        interval: float,
    ) -> None:
        self._build = build
        self._write = write
        self._interval = interval
        self._sleeping: asyncio.Task[None] | None = None  # a requested write, sleeping out its interval
        self._writing = asyncio.Lock()
        self._last = 0.0
        self._closed = False

    def request(self) -> None:
        """Write soon, but no sooner than one interval after the last write."""
        if self._sleeping is None:
            delay = max(0.0, self._last + self._interval - time.monotonic())
            self._sleeping = asyncio.create_task(self._write_after(delay))

    async def flush(self, *, retries: tuple[float, ...] = ()) -> bool:
        """Write now (a phase changed): the watcher of `kubectl get` deserves to know.

        `retries` are the delays between further attempts while the write fails: the final
        status is written once and nothing would carry its news later. True once written."""
        self.cancel()  # a sleeping request: this write carries its news
        for delay in (*retries, None):
            if await self._write_latest():
                return True
            if delay is None:
                return False
            await asyncio.sleep(delay)
        return False

    def cancel(self) -> None:
        """Drop a requested write that has not started (a write under way always lands)."""
        if self._sleeping is not None:
            self._sleeping.cancel()
            self._sleeping = None

    async def close(self) -> None:
        """Write no more, and return once a write under way has landed: the workflow ended
        outside its engine (its state lost), and the status that says so must land last. A
        write already past its interval and waiting for the lock must not start either, or
        its Running would overwrite the ending."""
        self._closed = True
        self.cancel()
        async with self._writing:
            pass

    async def _write_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._sleeping = None  # from here on a new request schedules a write of its own
        await self._write_latest()

    async def _write_latest(self) -> bool:
        async with self._writing:  # built inside the lock: the write that lands last is the newest
            if self._closed:
                return False
            self._last = time.monotonic()
            try:
                await self._write(await self._build())
            except KubeApiError as error:  # an API blip, or the operator stopping
                logger.warning("status update failed: %s", error)
                return False
            except Exception:  # the next write carries the news
                logger.exception("status update failed")
                return False
            return True
