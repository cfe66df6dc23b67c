"""The alarm of a host that lives on an asyncio loop with the wall clock."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from kubecanvas.engine.events import Tick

if TYPE_CHECKING:
    from kubecanvas.hosting.host import WorkflowHost

__all__ = ["LoopAlarm"]


class LoopAlarm:
    """Feeds a Tick at `wake_at` through `loop.call_later` (one pending alarm at a time)."""

    def __init__(self) -> None:
        self._handle: asyncio.TimerHandle | None = None

    def set(self, host: WorkflowHost, at: float | None) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if at is None or host.closed:
            return
        delay = max(0.0, at - host.clock())
        self._handle = asyncio.get_running_loop().call_later(delay, lambda: host.spawn(host.feed(Tick)))
