"""Which store the local runner keeps its workflow in: memory, or Redis with `--redis`.

With Redis the parent persists the graph, records, calls and results exactly where
the operator would, so other tools can read a local run; the children still get
their inputs and report through files.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from kubecanvas.errors import ConfigurationError, StoreConnectionError, StoreError
from kubecanvas.store.memory import MemoryStore, ResultStore

__all__ = ["expire_after", "open_store"]


@asynccontextmanager
async def open_store(redis_url: str | None = None) -> AsyncIterator[ResultStore]:
    """A MemoryStore, or a WorkflowStore on `redis_url` (checked to answer, closed at the end)."""
    if not redis_url:
        yield MemoryStore()
        return
    import redis

    from kubecanvas.store.hostside import WorkflowStore, connect_async

    try:
        client = connect_async(redis_url)
    except ValueError as error:
        raise ConfigurationError(f"--redis {redis_url!r} is not a Redis URL: {error}") from None
    try:
        try:
            await client.ping()
        except redis.RedisError as error:
            raise StoreConnectionError(f"cannot reach Redis at {_safe(redis_url)}: {error}") from None
        try:
            yield WorkflowStore(client)
        except redis.RedisError as error:
            raise StoreError(f"Redis at {_safe(redis_url)} failed: {error}") from error
    finally:
        await client.aclose()


async def expire_after(store: ResultStore, uid: str, seconds: int | None) -> None:
    """Let a finished workflow's Redis keys go after `ttlSecondsAfterFinished`, as the operator does."""
    from kubecanvas.store.hostside import WorkflowStore

    if isinstance(store, WorkflowStore) and seconds is not None:
        await store.expire(uid, max(seconds, 1))


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    if "@" not in url:
        return url
    scheme, _, rest = url.rpartition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}" if scheme else f"***@{url.split('@', 1)[1]}"
