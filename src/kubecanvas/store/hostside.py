"""The engine host's view of the store (the operator, the local runner with --redis).

The host persists each engine step in one transaction before acting on it, so a
`kill -9` at any moment loses nothing: on restart it loads the records, rebuilds the
engine and re-reads unacknowledged events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
from redis import ResponseError

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas.engine.machine import Engine
from kubecanvas.engine.states import Phase, TaskRecord
from kubecanvas.graph.nodes import (
    ErrbackAttachment,
    Graph,
    TaskNode,
    TaskNodeJSON,
    ref_from_json,
    ref_to_json,
)
from kubecanvas.store.layout import DEFAULT_EVENTS_STREAM, Outcome, TaskEvent, WorkflowKeys, decode, encode

__all__ = ["PersistedWorkflow", "WorkflowStore", "connect_async"]


BLOCK_SECONDS = 5.0  # how long a read of the events stream waits for news


def connect_async(url: str, password: str | None = None) -> aioredis.Redis:
    """A client for long-lived hosts. Its socket timeout must exceed a blocking read of
    the events stream (redis-py's default, 5 s, equals it: an idle operator then times
    out, backs off, and hears the next news late)."""
    client: aioredis.Redis = aioredis.Redis.from_url(
        url,
        password=password or None,
        decode_responses=True,
        health_check_interval=30,
        socket_connect_timeout=10,
        socket_timeout=BLOCK_SECONDS * 4,
    )
    return client


@dataclass(frozen=True, slots=True)
class PersistedWorkflow:
    uid: str
    meta: dict[str, str]
    graph: Graph
    extra_nodes: tuple[TaskNode, ...]
    records: dict[str, TaskRecord]

    @property
    def phase(self) -> Phase:
        return Phase(self.meta.get("phase", Phase.PENDING.value))

    def engine(self) -> Engine:
        """An engine resumed exactly where the last persisted step left it."""
        return Engine(
            self.graph,
            parallelism=int(self.meta.get("parallelism", "50")),
            records=self.records,
            extra_nodes=self.extra_nodes,
            phase=self.phase,
            started_at=_float(self.meta.get("startedAt")),
            finished_at=_float(self.meta.get("finishedAt")),
        )


def _float(text: str | None) -> float | None:
    return float(text) if text else None


class WorkflowStore:
    def __init__(self, client: aioredis.Redis, events_stream: str = DEFAULT_EVENTS_STREAM) -> None:
        self.client = client
        self.events_stream = events_stream

    # ------------------------------------------------------------ workflows

    async def create(self, uid: str, graph: Graph, meta: Mapping[str, JSON]) -> bool:
        """Store a freshly compiled workflow. False if it was already there (a restart
        that re-runs creation must not reset a running workflow)."""
        keys = WorkflowKeys(uid)
        skeleton = {
            "result": ref_to_json(graph.result),
            "errbacks": [attachment.to_json() for attachment in graph.errbacks],
            "args": list(graph.args),
            "kwargs": graph.kwargs,
        }
        fields = {name: value if isinstance(value, str) else encode(value) for name, value in meta.items()}
        fields.update(
            uid=uid, args=encode(list(graph.args)), kwargs=encode(graph.kwargs), phase=Phase.PENDING.value
        )
        nodes = [(node.id, encode(cast(JSON, node.to_json()))) for node in graph.nodes]
        async with self.client.pipeline(transaction=True) as pipe:
            await pipe.watch(keys.meta)
            if await pipe.exists(keys.meta):
                return False
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(keys.graph, encode(cast(JSON, skeleton)))
            for chunk in _chunks(nodes, 5000):
                pipe.hset(keys.nodes, mapping=_fields(dict(chunk)))
            pipe.hset(keys.meta, mapping=_fields(fields))
            await pipe.execute()  # all or nothing; raises WatchError if created meanwhile
        return True

    async def load(self, uid: str) -> PersistedWorkflow | None:
        keys = WorkflowKeys(uid)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hgetall(keys.meta)
            pipe.get(keys.graph)
            pipe.hgetall(keys.nodes)
            pipe.hgetall(keys.records)
            meta, raw_graph, raw_nodes, raw_records = await pipe.execute()
        if not meta or raw_graph is None:
            return None
        skeleton = cast(dict[str, Any], decode(raw_graph))
        nodes = [TaskNode.from_json(cast(TaskNodeJSON, decode(text))) for text in raw_nodes.values()]
        # Errback instances are the only nodes with dotted ids (`e0.1.0`), see graph.errbacks.
        static = sorted((node for node in nodes if "." not in node.id), key=_index)
        extra = tuple(sorted((node for node in nodes if "." in node.id), key=_index))
        graph = Graph(
            nodes=tuple(static),
            result=ref_from_json(skeleton["result"]),
            errbacks=tuple(ErrbackAttachment.from_json(item) for item in skeleton.get("errbacks", [])),
            args=tuple(skeleton.get("args", ())),
            kwargs=dict(skeleton.get("kwargs", {})),
        )
        records = {node_id: TaskRecord.from_json(decode(text)) for node_id, text in raw_records.items()}
        return PersistedWorkflow(uid, meta, graph, extra, records)

    async def save_step(
        self, uid: str, engine: Engine, changed: Iterable[str], new_nodes: Iterable[TaskNode]
    ) -> None:
        """Persist what one engine step changed, atomically."""
        keys = WorkflowKeys(uid)
        records = {node_id: encode(engine.records[node_id].to_json()) for node_id in changed}
        nodes = {node.id: encode(cast(JSON, node.to_json())) for node in new_nodes}
        meta = {"phase": engine.phase.value}
        if engine.started_at is not None:
            meta["startedAt"] = repr(engine.started_at)
        if engine.finished_at is not None:
            meta["finishedAt"] = repr(engine.finished_at)
        async with self.client.pipeline(transaction=True) as pipe:
            if nodes:
                pipe.hset(keys.nodes, mapping=_fields(nodes))
            for chunk in _chunks(list(records.items()), 5000):
                pipe.hset(keys.records, mapping=_fields(dict(chunk)))
            pipe.hset(keys.meta, mapping=_fields(meta))
            await pipe.execute()

    async def put_outcome(
        self,
        uid: str,
        task_id: str,
        attempt: int,
        outcome: Outcome,
        *,
        value: JSON = None,
        call: JSONObject | None = None,
    ) -> None:
        """What a task pod writes itself, written by a host that ran the task (the
        local runner): the call, the outcome and, on success, the value (once)."""
        keys = WorkflowKeys(uid)
        async with self.client.pipeline(transaction=True) as pipe:
            if call is not None:
                pipe.hset(keys.calls, task_id, encode(call))
            pipe.hsetnx(
                keys.outcomes, WorkflowKeys.outcome_field(task_id, attempt), encode(outcome.to_json())
            )
            if outcome.kind == "succeeded":
                pipe.hsetnx(keys.results, task_id, encode(value))
            await pipe.execute()

    async def set_meta(self, uid: str, **fields: str) -> None:
        await self.client.hset(WorkflowKeys(uid).meta, mapping=_fields(fields))

    async def results(self, uid: str, node_ids: Iterable[str] | None = None) -> dict[str, JSON]:
        keys = WorkflowKeys(uid)
        if node_ids is None:
            raw = cast(dict[str, str], await self.client.hgetall(keys.results))
            return {node_id: decode(text) for node_id, text in raw.items()}
        wanted = list(node_ids)
        if not wanted:
            return {}
        values = await self.client.hmget(keys.results, wanted)
        return {
            node_id: decode(text) for node_id, text in zip(wanted, values, strict=True) if text is not None
        }

    async def calls(self, uid: str) -> dict[str, JSONObject]:
        raw = cast(dict[str, str], await self.client.hgetall(WorkflowKeys(uid).calls))
        return {node_id: cast(JSONObject, decode(text)) for node_id, text in raw.items()}

    async def outcome(self, uid: str, task_id: str, attempt: int) -> Outcome | None:
        raw = await self.client.hget(WorkflowKeys(uid).outcomes, WorkflowKeys.outcome_field(task_id, attempt))
        return Outcome.from_json(decode(raw)) if raw is not None else None

    async def exists(self, uid: str) -> bool:
        return bool(await self.client.exists(WorkflowKeys(uid).meta))

    async def expire(self, uid: str, seconds: int) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            for key in WorkflowKeys(uid).all():
                pipe.expire(key, seconds)
            await pipe.execute()

    async def delete(self, uid: str) -> None:
        await self.client.delete(*WorkflowKeys(uid).all())

    # ------------------------------------------------------------ events

    async def ensure_group(self, group: str) -> None:
        """Create the consumer group from the stream's start, so that news written while
        no operator ran is read too."""
        try:
            await self.client.xgroup_create(self.events_stream, group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def read_events(
        self,
        group: str,
        consumer: str,
        *,
        pending: bool = False,
        block_ms: int = int(BLOCK_SECONDS * 1000),
        count: int = 1000,
    ) -> list[TaskEvent]:
        """New events for this consumer; with `pending`, those it read but never acknowledged."""
        reply = cast(  # RESP2 shape: [(stream, [(id, fields), ...])]
            list[tuple[str, list[tuple[str, dict[str, str]]]]],
            await self.client.xreadgroup(
                group,
                consumer,
                {self.events_stream: "0" if pending else ">"},
                count=count,
                block=None if pending else block_ms,
            ),
        )
        events: list[TaskEvent] = []
        for _stream, entries in reply or []:
            for stream_id, fields in entries:
                if fields:  # a pending entry trimmed from the stream comes back empty
                    events.append(TaskEvent.from_fields(stream_id, fields))
                else:
                    events.append(TaskEvent("", "", 0, "started", stream_id=stream_id))
        return events

    async def ack(self, group: str, stream_ids: Iterable[str]) -> None:
        ids = list(stream_ids)
        if ids:
            await self.client.xack(self.events_stream, group, *ids)


def _fields(mapping: Mapping[str, str]) -> Any:
    """redis-py types hash fields loosely (bytes, ints, ...); ours are always strings."""
    return mapping


def _index(node: TaskNode) -> int:
    return node.index


def _chunks(items: list[tuple[str, str]], size: int) -> Iterable[list[tuple[str, str]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
