"""`WorkflowHost`: one workflow's engine, and the one order in which its steps are carried out.

1. feed the engine the events that happened (one `Step` for a batch of them);
2. persist what changed (`StepStore.save_step`) — before anything is done about it, so a
   host killed at any moment resumes from the store and re-creates what it had started;
3. stop the attempts the step kills, then start the ones it launches (kills first: a
   slot freed by a revoke is what a launch may take);
4. set the alarm for the step's `wake_at`;
5. let the program see the step (`after_step`: status, metrics, a progress display);
6. once the workflow finished, say so (`done`, `on_finished`).

If the store says the workflow's state is gone (`StateLostError`: a flushed Redis), nothing of
the step is carried out; the host closes and tells the program (`on_lost`), which ends the
workflow, since what its tasks did cannot be known any more.

Steps of one workflow never overlap (a lock); steps of different workflows do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from kubecanvas.engine.effects import Step
from kubecanvas.engine.events import Event
from kubecanvas.engine.machine import Engine
from kubecanvas.errors import StateLostError
from kubecanvas.hosting.ports import Alarm, Launcher, StepHook, StepStore

__all__ = ["EventMaker", "WorkflowHost", "merge_steps"]

logger = logging.getLogger(__name__)

EventMaker = Callable[[float], Event]
"""An event, given the time at which it is fed (taken under the workflow's lock)."""


class WorkflowHost:
    """Drives one engine; everything that happens to the workflow comes in through `feed`."""

    def __init__(
        self,
        uid: str,
        engine: Engine,
        *,
        launcher: Launcher,
        alarm: Alarm,
        store: StepStore | None = None,
        clock: Callable[[], float] = time.time,
        after_step: StepHook | None = None,
        on_finished: Callable[[WorkflowHost], Awaitable[None]] | None = None,
        on_lost: Callable[[WorkflowHost, StateLostError], Awaitable[None]] | None = None,
        spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]] | None = None,
    ) -> None:
        """`store` None keeps nothing (eager mode, the simulator: the engine is the state).

        `spawn` starts background work (a Job being created, an alarm that rang); by
        default the host keeps it, and a failure in it ends `wait()` with that error."""
        self.uid = uid
        self.engine = engine
        self.launcher = launcher
        self.alarm = alarm
        self.store = store
        self.clock = clock
        self.after_step = after_step
        self.on_finished = on_finished
        self.on_lost = on_lost
        self._spawn = spawn
        self.closed = False
        self._lock: asyncio.Lock | None = None
        self._done: asyncio.Future[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()

    async def feed(self, *events: EventMaker) -> Step | None:
        """Apply `events` in order as one step and carry it out; None once the host is closed."""
        async with self.lock:
            if self.closed:
                return None
            now = self.clock()
            step = merge_steps(self.engine.feed(make(now)) for make in events)
            if self.store is not None and not step.empty:
                try:
                    await self.store.save_step(self.uid, self.engine, step.changed, step.new_nodes)
                except StateLostError as error:
                    self.close()
                    if self.on_lost is None:
                        raise
                    await self.on_lost(self, error)
                    return None
            for kill in step.kills:
                self.launcher.kill(self, kill)
            for launch in step.launches:
                self.launcher.launch(self, launch)
            self.alarm.set(self, step.wake_at)
            if self.after_step is not None:
                await self.after_step(self, step)
        if step.phase_changed and self.engine.phase.finished:
            self._finish()
            if self.on_finished is not None:
                await self.on_finished(self)
        return step

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run `coroutine` in the background, on the program's terms (see `__init__`)."""
        if self._spawn is not None:
            return self._spawn(coroutine)
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(self._check_background)
        return task

    async def wait(self) -> None:
        """Until the workflow finished (or background work failed: that error is raised)."""
        await asyncio.shield(self.done)

    def abort(self, error: BaseException) -> None:
        """Stop waiting with `error`: the host's own bookkeeping broke, not a task."""
        if not self.done.done():
            self.done.set_exception(error)

    def close(self) -> None:
        """No step after this one; the alarm is cancelled (what was launched is the launcher's)."""
        self.closed = True
        self.alarm.set(self, None)

    async def settle_background(self) -> None:
        """Wait for the background work the host keeps itself (not the program's `spawn`)."""
        while pending := [task for task in self._background if not task.done()]:
            await asyncio.wait(pending)

    @property
    def lock(self) -> asyncio.Lock:
        if self._lock is None:  # made in the loop that runs the host
            self._lock = asyncio.Lock()
        return self._lock

    @property
    def done(self) -> asyncio.Future[None]:
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
            if self.engine.phase.finished:
                self._done.set_result(None)
        return self._done

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def _check_background(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            self.abort(error)


def merge_steps(steps: Iterable[Step]) -> Step:
    """Several engine steps as one (a batch of news about one workflow is persisted once)."""
    merged = Step()
    for step in steps:
        merged.launches.extend(step.launches)
        merged.kills.extend(step.kills)
        merged.changed |= step.changed
        merged.new_nodes.extend(step.new_nodes)
        merged.notices.extend(step.notices)
        merged.wake_at = step.wake_at
        merged.phase_changed = merged.phase_changed or step.phase_changed
    return merged
