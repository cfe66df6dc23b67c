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
    return {
        "phase": Phase.FAILED.value,
        "progress": "0/0",
        "total": 0,
        "message": message,
        "problems": list(problems),
        "error": {"task": None, "taskId": None, "type": "InvalidWorkflow", "message": message},
        "finishedAt": to_rfc3339(now),
        "conditions": [
            _condition("Completed", True, "InvalidWorkflow", message, now),
            _condition("Failed", True, "InvalidWorkflow", message, now),
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
    """Coalesces status writes of one workflow: the latest state wins."""

    def __init__(
        self,
        build: Callable[[], Awaitable[JSONObject]],
        write: Callable[[JSONObject], Awaitable[Any]],
        interval: float,
    ) -> None:
        self._build = build
        self._write = write
        self._interval = interval
        self._pending: asyncio.Task[None] | None = None
        self._last = 0.0

    def request(self) -> None:
        """Write soon, but no sooner than one interval after the last write."""
        if self._pending is None or self._pending.done():
            delay = max(0.0, self._last + self._interval - time.monotonic())
            self._pending = asyncio.create_task(self._flush_after(delay))

    async def flush(self) -> None:
        """Write now (a phase changed): the watcher of `kubectl get` deserves to know."""
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
        await self._flush_after(0.0)

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()

    async def _flush_after(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        self._last = time.monotonic()
        try:
            await self._write(await self._build())
        except Exception:  # a status write can fail (API blip); the next one carries the news
            logger.exception("status update failed")
