"""Reading task news from Redis the moment task pods write it.

A consumer group on one stream: an event is acknowledged only after the engine step
it caused is persisted, so news that arrived while the operator was down, or that it
was handling when killed, is read again on start. A new operator instance claims what
an old one left unacknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import redis.asyncio as aioredis
from redis import RedisError

from kubecanvas.store.hostside import WorkflowStore
from kubecanvas_operator.conductor import Conductor

__all__ = ["consume_events", "consumer_name", "until_redis_answers"]

logger = logging.getLogger(__name__)

_BACKOFFS = (0.5, 1.0, 2.0, 5.0)


def consumer_name() -> str:
    """Stable per pod (its hostname), unique per process elsewhere."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


async def claim_abandoned(client: aioredis.Redis, stream: str, group: str, consumer: str) -> int:
    """Take over events that a previous operator read but never acknowledged."""
    claimed, start = 0, "0-0"
    while True:
        reply = await client.xautoclaim(stream, group, consumer, min_idle_time=0, start_id=start, count=1000)
        start, entries = reply[0], reply[1]  # [next start, [(id, fields), ...], deleted ids]
        claimed += len(entries)
        if start in ("0-0", b"0-0"):
            return claimed


async def consume_events(store: WorkflowStore, conductor: Conductor, group: str, consumer: str) -> None:
    """Run until cancelled: read, apply, acknowledge; ride out Redis outages."""
    failures = 0
    first_round = True
    poisoned: dict[str, int] = {}  # first event id of a batch that failed to apply -> tries
    while True:
        try:
            if first_round:
                await store.ensure_group(group)  # a Redis that lost its data lost the group too
                claimed = await claim_abandoned(store.client, store.events_stream, group, consumer)
                if claimed:
                    logger.info("claimed %d unacknowledged task events from a previous operator", claimed)
                if failures:
                    # Back after an outage: what was lost meanwhile (task users, a flushed state,
                    # news never sent) is looked at now, not at the next periodic reconcile.
                    logger.info("Redis answers again; looking at every running workflow")
                    await conductor.reconcile_running()
            # First drain what this consumer holds unacknowledged, then wait for new news.
            events = await store.read_events(group, consumer, pending=first_round)
            if first_round and not events:
                first_round = False
                continue
            if events:
                key = events[0].stream_id
                try:
                    await conductor.on_task_events(events)
                except (RedisError, OSError):
                    raise
                except Exception:
                    poisoned[key] = poisoned.get(key, 0) + 1
                    if poisoned[key] < 3:
                        raise
                    # Outcomes stay in Redis: a restart's reconcile recovers them. Never block all news.
                    logger.exception("giving up on %d task events starting at %s", len(events), key)
                poisoned.pop(key, None)
                await store.ack(group, [event.stream_id for event in events])
            failures = 0
        except asyncio.CancelledError:
            raise
        except (RedisError, OSError) as error:
            delay = _BACKOFFS[min(failures, len(_BACKOFFS) - 1)]
            failures += 1
            logger.warning("Redis: %s; retrying in %.1fs", error, delay)
            first_round = True
            await asyncio.sleep(delay)
        except Exception:
            logger.exception("failed to apply task events; they stay unacknowledged and are retried")
            first_round = True
            await asyncio.sleep(_BACKOFFS[-1])


async def until_redis_answers(store: WorkflowStore) -> None:
    """Wait for Redis at start-up, saying why every time, on the stream's own backoff.

    The chart starts Redis and the operator together: the first connection often finds no
    Redis yet. Failing the startup handler would leave the retry to kopf's 60 s backoff.
    """
    failures = 0
    while True:
        try:
            await store.client.ping()
        except (RedisError, OSError) as error:
            delay = _BACKOFFS[min(failures, len(_BACKOFFS) - 1)]
            failures += 1
            logger.warning("Redis does not answer yet (%s); retrying in %.1fs", error, delay)
            await asyncio.sleep(delay)
        else:
            return
