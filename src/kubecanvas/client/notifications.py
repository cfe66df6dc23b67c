"""Waiting for a workflow without polling: Redis tells us when there is news.

Two sources of news, both pushed by Redis:

- the **events stream** the task pods write to (`kubecanvas:events`): a task of the
  workflow started, succeeded, failed or asked for a retry. The client reads it with
  `XREAD BLOCK` from the id it was at (never as a consumer group: it takes nothing away
  from the operator) and keeps the entries of its workflow;
- a **pub/sub channel per workflow** (`WorkflowKeys.finished_channel`), which the
  operator publishes the phase to once the workflow has finished and its final state is
  in Redis (`WorkflowStore.announce_finished`, when the conductor settles a workflow).
  It covers the endings no task reports: a revoke, a pod that died, an expiry.

A task's news reaches the stream a moment before the operator has applied it, so after
news the waiter re-reads a few times in quick succession (50 ms to 1 s); with no news
at all it re-reads every `SAFETY_INTERVAL` seconds, in case a notification was lost
(a Redis reconnect) or the operator predates the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any, cast

import redis.asyncio as aioredis
from redis import RedisError

from kubecanvas.store.layout import TaskEvent, WorkflowKeys

__all__ = ["SAFETY_INTERVAL", "NewsWaiter"]

logger = logging.getLogger(__name__)

SAFETY_INTERVAL = 5.0
_CONFIRM_DELAYS = (0.05, 0.1, 0.2, 0.4, 1.0)
# Below redis-py's default socket timeout (5 s since redis-py 6): a longer BLOCK would
# end as a read timeout and a reconnect instead of an empty reply.
_BLOCK_MS = 4000


class NewsWaiter:
    """News about one workflow, as an asyncio context manager.

        async with NewsWaiter(lambda: connect_async(url), stream, uid) as news:
            while not await finished():
                await news.wait(deadline - time.monotonic())

    Subscribe first, check second, then wait: news that arrives between the check and
    the wait is not lost. The waiter opens its own connections (`connect`): a blocking
    XREAD holds one, and leaving must be able to break it off. (redis-py can swallow a
    task's cancellation while it sets a connection up, so cancelling is not enough.)
    """

    def __init__(self, connect: Callable[[], aioredis.Redis], stream: str, uid: str) -> None:
        self.connect = connect
        self.stream = stream
        self.uid = uid
        self._news = asyncio.Event()
        self._client: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._confirming = 0  # quick re-reads left after the last news

    async def __aenter__(self) -> NewsWaiter:
        self._client = self.connect()
        try:
            self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            await self._pubsub.subscribe(WorkflowKeys(self.uid).finished_channel)
            last = await self._last_stream_id(self._client)
        except BaseException:
            await self._close_connections()
            raise
        self._tasks = [
            asyncio.create_task(self._follow_stream(self._client, last)),
            asyncio.create_task(self._follow_channel()),
        ]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=0.5)
            if pending and self._client is not None:  # a cancellation swallowed mid-connect
                with contextlib.suppress(RedisError, OSError):
                    await self._client.connection_pool.disconnect(inuse_connections=True)
                await asyncio.wait(pending, timeout=2.0)
        await self._close_connections()

    async def _close_connections(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
        if self._client is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._client.aclose()

    async def wait(self, seconds: float) -> bool:
        """Until news (True) or `seconds` (False); quick re-reads follow news."""
        if seconds <= 0:
            return False
        if self._news.is_set():
            self._news.clear()
            self._confirming = len(_CONFIRM_DELAYS)
            return True
        if self._confirming:
            limit = _CONFIRM_DELAYS[len(_CONFIRM_DELAYS) - self._confirming]
            self._confirming -= 1
        else:
            limit = SAFETY_INTERVAL
        try:
            await asyncio.wait_for(self._news.wait(), min(seconds, limit))
        except TimeoutError:
            return False
        self._news.clear()
        self._confirming = len(_CONFIRM_DELAYS)
        return True

    def _stopped(self) -> bool:
        return self._closing

    async def _last_stream_id(self, client: aioredis.Redis) -> str:
        try:
            entries = cast(list[Any], await client.xrevrange(self.stream, count=1))
        except RedisError:
            return "0-0"
        return str(entries[0][0]) if entries else "0-0"

    async def _follow_stream(self, client: aioredis.Redis, last: str) -> None:
        while not self._stopped():
            try:
                reply = cast(list[Any], await client.xread({self.stream: last}, count=1000, block=_BLOCK_MS))
            except (RedisError, OSError):
                if self._stopped():
                    return
                await asyncio.sleep(0.5)
                continue
            for _stream, entries in reply or []:
                for stream_id, fields in entries:
                    last = str(stream_id)
                    if TaskEvent.workflow_of(fields or {}) == self.uid:
                        self._news.set()

    async def _follow_channel(self) -> None:
        while not self._stopped():
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=30.0)
            except (RedisError, OSError):
                if self._stopped():
                    return
                await asyncio.sleep(0.5)
                continue
            if message is not None and message.get("type") == "message":
                self._news.set()
