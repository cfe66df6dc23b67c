"""The engine host's view of the store (the operator, the local runner with --redis).

The host persists each engine step in one transaction before acting on it, so a
`kill -9` at any moment loses nothing: on restart it loads the records, rebuilds the
engine and re-reads unacknowledged events.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import redis.asyncio as aioredis
from redis import RedisError, ResponseError
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas.engine.machine import Engine
from kubecanvas.engine.states import Phase, TaskRecord
from kubecanvas.errors import StateLostError
from kubecanvas.graph.nodes import (
    ErrbackAttachment,
    Graph,
    TaskNode,
    TaskNodeJSON,
    ref_from_json,
    ref_to_json,
)
from kubecanvas.store.layout import (
    DEFAULT_EVENTS_STREAM,
    Outcome,
    RunItem,
    TaskEvent,
    WorkflowKeys,
    WorkflowMeta,
    decode,
    encode,
)
from kubecanvas.store.tenancy import task_user, task_user_rules
from kubecanvas.store.wire import Address

__all__ = ["PersistedWorkflow", "RunnerCensus", "WorkflowStore", "connect_async"]

logger = logging.getLogger(__name__)


BLOCK_SECONDS = 5.0  # how long a read of the events stream waits for news
POOL_SIZE = 100  # connections to Redis at most (redis-py's default)
POOL_WAIT_SECONDS = 20.0  # how long a caller waits for one of them before it fails


def connect_async(url: str, password: str | None = None, *, ca: str | None = None) -> aioredis.Redis:
    """A client for long-lived hosts, for any URL the task pods' client takes (`store.wire`,
    Sentinel included: redis-py asks the Sentinels for the master again after a failover).
    `ca`: the PEM of a private CA of Redis' TLS certificate (else the URL's `ssl_ca_certs`).
    Its socket timeout must exceed a blocking read of the events stream (redis-py's default,
    5 s, equals it: an idle operator then times out, backs off, and hears the next news late).

    Its pool makes a caller wait for a free connection (up to `POOL_WAIT_SECONDS`) rather than
    fail: redis-py's default pool raises `Too many connections` past 100 in use, which a
    burst of Workflows created at once reached (each admission failed, and kopf retried it
    60 s later)."""
    options: dict[str, Any] = {
        # The pool's bounds, read by both pool classes below (a blocking one each).
        "max_connections": POOL_SIZE,
        "timeout": POOL_WAIT_SECONDS,
        "decode_responses": True,
        "health_check_interval": 30,
        "socket_connect_timeout": 10,
        "socket_timeout": BLOCK_SECONDS * 4,
    }
    address = Address.from_url(url, password or None)
    if address.tls and ca:
        options["ssl_ca_data"] = ca
    if address.sentinels:
        if address.tls:
            options.update(ssl=True, ssl_ca_certs=None if ca else address.ca_file)

        sentinels = Sentinel(list(address.sentinels), socket_connect_timeout=10, socket_timeout=10)  # type: ignore[no-untyped-call]
        master: aioredis.Redis = sentinels.master_for(
            address.master,
            connection_pool_class=_BlockingSentinelPool,
            username=address.username,
            password=address.password,
            db=address.db,
            **options,
        )
        return master
    pool = aioredis.BlockingConnectionPool.from_url(url, password=password or None, **options)
    return aioredis.Redis.from_pool(pool)


class _BlockingSentinelPool(SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """The master's pool behind Sentinel, waiting for a free connection as `connect_async`'s
    other pool does (Sentinel's own pool only finds the master; taking and giving back
    connections is the blocking pool's)."""


@dataclass(frozen=True, slots=True)
class PersistedWorkflow:
    uid: str
    meta: WorkflowMeta
    graph: Graph
    extra_nodes: tuple[TaskNode, ...]
    records: dict[str, TaskRecord]

    @property
    def phase(self) -> Phase:
        return self.meta.phase

    def engine(self) -> Engine:
        """An engine resumed exactly where the last persisted step left it."""
        return Engine(
            self.graph,
            parallelism=self.meta.parallelism,
            records=self.records,
            extra_nodes=self.extra_nodes,
            phase=self.meta.phase,
            started_at=self.meta.started_at,
            finished_at=self.meta.finished_at,
        )


@dataclass(frozen=True, slots=True)
class RunnerCensus:
    """Where a workflow's warm attempts are, read in one transaction (operator/runners.py):
    the `<id>#<attempt>` fields queued once (`enqueued`) and those in a queue or a runner's
    hands now (`placed`)."""

    enqueued: frozenset[str]
    placed: frozenset[str]


def _lua(name: str) -> str:
    """A script of `store/lua/`, kept as a file (as dramatiq keeps its own)."""
    return (Path(__file__).parent / "lua" / f"{name}.lua").read_text()


class WorkflowStore:
    def __init__(self, client: aioredis.Redis, events_stream: str = DEFAULT_EVENTS_STREAM) -> None:
        self.client = client
        self.events_stream = events_stream
        self._enqueue = client.register_script(_lua("enqueue"))
        self._withdraw = client.register_script(_lua("withdraw"))

    # ------------------------------------------------------------ workflows

    async def create(self, uid: str, graph: Graph, meta: WorkflowMeta) -> bool:
        """Store a freshly compiled workflow. False if it was already there (a restart
        that re-runs creation must not reset a running workflow)."""
        keys = WorkflowKeys(uid)
        skeleton = {
            "result": ref_to_json(graph.result),
            "errbacks": [attachment.to_json() for attachment in graph.errbacks],
            "args": list(graph.args),
            "kwargs": graph.kwargs,
        }
        fields = replace(meta, phase=Phase.PENDING).to_fields()
        fields.update(uid=uid, args=encode(list(graph.args)), kwargs=encode(graph.kwargs))
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
        graph, extra = _graph_of(raw_graph, raw_nodes)
        records = {node_id: TaskRecord.from_json(decode(text)) for node_id, text in raw_records.items()}
        return PersistedWorkflow(uid, WorkflowMeta.from_fields(meta), graph, extra, records)

    async def graph(self, uid: str) -> Graph | None:
        """The workflow's graph as the operator compiled and stored it (None once its keys
        expired): what results read, instead of compiling the spec again."""
        keys = WorkflowKeys(uid)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.get(keys.graph)
            pipe.hgetall(keys.nodes)
            raw_graph, raw_nodes = await pipe.execute()
        if raw_graph is None:
            return None
        return _graph_of(raw_graph, raw_nodes)[0]

    async def save_step(
        self, uid: str, engine: Engine, changed: Iterable[str], new_nodes: Iterable[TaskNode]
    ) -> None:
        """Persist what one engine step changed, atomically; StateLostError if the workflow's
        state is gone (its graph: written once, at creation), after taking back what this
        write would have left behind of it."""
        keys = WorkflowKeys(uid)
        records = {node_id: encode(engine.records[node_id].to_json()) for node_id in changed}
        nodes = {node.id: encode(cast(JSON, node.to_json())) for node in new_nodes}
        meta = {"phase": engine.phase.value}
        if engine.started_at is not None:
            meta["startedAt"] = repr(engine.started_at)
        if engine.finished_at is not None:
            meta["finishedAt"] = repr(engine.finished_at)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.exists(keys.graph)  # in the same transaction: one round trip, no race
            if nodes:
                pipe.hset(keys.nodes, mapping=_fields(nodes))
            for chunk in _chunks(list(records.items()), 5000):
                pipe.hset(keys.records, mapping=_fields(dict(chunk)))
            pipe.hset(keys.meta, mapping=_fields(meta))
            replies = await pipe.execute()
        if not replies[0]:
            await self.delete(uid)
            raise StateLostError(f"the state of workflow {uid} is no longer in Redis")

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

    async def view(self, uid: str, node_ids: list[str]) -> tuple[Phase | None, dict[str, TaskRecord]]:
        """The workflow's phase and the records of `node_ids`, read together (one
        transaction); (None, {}) when Redis has no state for it (not yet, or no longer)."""
        keys = WorkflowKeys(uid)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hget(keys.meta, "phase")
            if node_ids:
                pipe.hmget(keys.records, node_ids)
            replies = await pipe.execute()
        phase, raw = replies[0], (replies[1] if node_ids else [])
        if phase is None:
            return None, {}
        records = {
            node_id: TaskRecord.from_json(decode(text)) if text else TaskRecord()
            for node_id, text in zip(node_ids, raw or [], strict=False)
        }
        return Phase(phase), records

    async def copy_succeeded(self, source_uid: str, target_uid: str, node_ids: Iterable[str]) -> list[str]:
        """Copy the results, calls and records of `node_ids` (tasks that succeeded in the
        workflow `source_uid`) into `target_uid`, as finished records. Idempotent (HSETNX).
        Returns the ids whose result and record were still there to copy."""
        wanted = list(node_ids)
        if not wanted:
            return []
        source, target = WorkflowKeys(source_uid), WorkflowKeys(target_uid)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hmget(source.results, wanted)
            pipe.hmget(source.calls, wanted)
            pipe.hmget(source.records, wanted)
            results, calls, records = await pipe.execute()
        present = [
            (node_id, result, call, record)
            for node_id, result, call, record in zip(wanted, results, calls, records, strict=True)
            if result is not None and record is not None
        ]
        async with self.client.pipeline(transaction=True) as pipe:
            for node_id, result, call, record in present:
                pipe.hsetnx(target.results, node_id, result)
                if call is not None:
                    pipe.hsetnx(target.calls, node_id, call)
                pipe.hsetnx(target.records, node_id, encode(_finished(record).to_json()))
            await pipe.execute()
        return [item[0] for item in present]

    async def workflows(self) -> AsyncIterator[tuple[str, WorkflowMeta]]:
        """Every workflow with state here, with its meta (a SCAN: fine while others write)."""
        async for key in self.client.scan_iter(match=WorkflowKeys.META_PATTERN, count=500):
            uid = WorkflowKeys.uid_of_meta(str(key))
            if uid is None:
                continue
            fields = cast(dict[str, str], await self.client.hgetall(str(key)))
            if fields:
                yield uid, WorkflowMeta.from_fields(fields)

    async def announce_finished(self, uid: str, phase: Phase) -> None:
        """Tell waiting clients that workflow `uid` finished (its final state is stored).
        Never raises: a lost announcement only delays clients until their next re-read."""
        try:
            await self.client.publish(WorkflowKeys(uid).finished_channel, phase.value)
        except (RedisError, OSError) as error:
            logger.warning(
                "cannot announce the end of workflow %s: %s", uid, error, extra={"workflowUid": uid}
            )

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

    async def outcomes(self, uid: str, attempts: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Outcome]:
        """The stored outcomes of these (task id, attempt)s, in one round trip; missing ones left out."""
        wanted = list(dict.fromkeys(attempts))
        if not wanted:
            return {}
        fields = [WorkflowKeys.outcome_field(task_id, attempt) for task_id, attempt in wanted]
        raws = await self.client.hmget(WorkflowKeys(uid).outcomes, fields)
        return {
            key: Outcome.from_json(decode(raw))
            for key, raw in zip(wanted, raws, strict=True)
            if raw is not None
        }

    async def grant_tasks(self, uid: str, password: str) -> None:
        """Create (or re-create) the Redis user of the workflow's task pods (store/tenancy.py)."""
        rules = task_user_rules(uid, password, self.events_stream)
        # redis-py's acl_setuser cannot spell read-only key patterns (%R~): the raw command
        await self.client.execute_command("ACL", "SETUSER", task_user(uid), *rules)  # type: ignore[no-untyped-call]

    async def revoke_tasks(self, uid: str) -> None:
        """Remove the workflow's task user: its pods can no longer reach Redis."""
        await self.client.acl_deluser(task_user(uid))

    async def exists(self, uid: str) -> bool:
        """Whether the workflow's state is here: its graph, written once at creation (a step
        persisted after a flush may write other keys again, never this one)."""
        return bool(await self.client.exists(WorkflowKeys(uid).graph))

    async def expire(self, uid: str, seconds: int) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            for key in await self._keys(uid):
                pipe.expire(key, seconds)
            await pipe.execute()

    # ------------------------------------------------------------ large specs (canvas.offload)

    async def put_upload(self, namespace: str, sha256: str, text: str, ttl: int) -> None:
        """Keep an uploaded stored part for `ttl` seconds (again: the same text twice is one)."""
        await self.client.set(WorkflowKeys.upload(namespace, sha256), text, ex=ttl)

    async def find_canvas(self, namespace: str, sha256: str, uids: Iterable[str]) -> str | None:
        """The stored part `sha256` of a Workflow of `namespace`: kept by one of the workflows
        `uids` (its own once admitted; the one it retries), or still uploaded. The caller checks
        the digest (`offload.joined`): a workflow's key holds what it joined, whatever that was."""
        keys = [WorkflowKeys(uid).canvas for uid in uids]
        for key in [*keys, WorkflowKeys.upload(namespace, sha256)]:
            text = cast(str | None, await self.client.get(key))
            if text is not None:
                return text
        return None

    async def keep_canvas(self, uid: str, text: str) -> None:
        """The admitted workflow's own copy of its stored part, gone with its other keys."""
        await self.client.set(WorkflowKeys(uid).canvas, text)

    async def delete(self, uid: str) -> None:
        await self.client.delete(*await self._keys(uid))

    async def _keys(self, uid: str) -> list[str]:
        """Every key of the workflow: the fixed ones and its runners' queues and hands."""
        keys = WorkflowKeys(uid)
        made = cast(set[str], await self.client.smembers(keys.runner_keys))
        return [*keys.all(), *sorted(made)]

    # ------------------------------------------------------------ warm runners

    async def enqueue(self, uid: str, item: RunItem) -> bool:
        """Queue a warm attempt for its pool, once ever (lua/enqueue.lua); False if it was already."""
        keys = WorkflowKeys(uid)
        queued = await self._enqueue(
            keys=[keys.enqueued, keys.runner_queue(item.pool), keys.runner_keys],
            args=[item.field, item.to_text()],
        )
        return bool(queued)

    async def withdraw(self, uid: str, item: RunItem, reason: str) -> bool:
        """Mark a warm attempt killed and take it out of its queue (lua/withdraw.lua); True if
        it had not started."""
        keys = WorkflowKeys(uid)
        withdrawn = await self._withdraw(
            keys=[keys.enqueued, keys.kills, keys.runner_queue(item.pool)], args=[item.field, reason]
        )
        return bool(withdrawn)

    async def add_runner(self, uid: str, runner: str) -> None:
        """Note a runner's hands before it exists, so the workflow's deletion finds them."""
        keys = WorkflowKeys(uid)
        await self.client.sadd(keys.runner_keys, keys.runner_held(runner))

    async def runners(self, uid: str) -> list[str]:
        """The runners whose hands were noted (`add_runner`) and not forgotten."""
        keys = WorkflowKeys(uid)
        prefix = keys.runner_held("")
        made = cast(set[str], await self.client.smembers(keys.runner_keys))
        return sorted(key[len(prefix) :] for key in made if key.startswith(prefix))

    async def held(self, uid: str, runner: str) -> list[RunItem]:
        """What a runner took and did not finish."""
        raw = await self.client.lrange(WorkflowKeys(uid).runner_held(runner), 0, -1)
        return [RunItem.from_text(text) for text in raw]

    async def forget_runner(self, uid: str, runner: str) -> None:
        """A runner ended and what it held was dealt with: its hands go."""
        keys = WorkflowKeys(uid)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(keys.runner_held(runner))
            pipe.srem(keys.runner_keys, keys.runner_held(runner))
            await pipe.execute()

    async def drain_queue(self, uid: str, pool: str) -> list[RunItem]:
        """Take every attempt out of a pool's queue (no runner of it can start)."""
        key = WorkflowKeys(uid).runner_queue(pool)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
            raw, _ = await pipe.execute()
        return [RunItem.from_text(text) for text in raw]

    async def runner_census(self, uid: str, pools: Iterable[str], runners: Iterable[str]) -> RunnerCensus:
        """Every warm attempt queued once, and those in a queue or a runner's hands, read
        in one transaction: an attempt that is in neither and has no outcome (read *after*
        this: a runner drops what it finished only once its outcome is written) was lost
        with a runner whose end the operator did not see."""
        keys = WorkflowKeys(uid)
        lists = [keys.runner_queue(pool) for pool in pools] + [keys.runner_held(name) for name in runners]
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hkeys(keys.enqueued)
            for key in lists:
                pipe.lrange(key, 0, -1)
            replies = await pipe.execute()
        placed = {RunItem.from_text(text).field for listed in replies[1:] for text in listed}
        return RunnerCensus(frozenset(replies[0]), frozenset(placed))

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


def _graph_of(raw_graph: str, raw_nodes: Mapping[str, str]) -> tuple[Graph, tuple[TaskNode, ...]]:
    """The stored graph, and the nodes added while it ran (errback instances)."""
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
    return graph, extra


def _finished(text: str) -> TaskRecord:
    """A copied record, as a finished one (nothing in flight, nothing scheduled)."""
    record = TaskRecord.from_json(decode(text))
    record.launched = False
    record.not_before = None
    record.expires_at = None
    return record


def _fields(mapping: Mapping[str, str]) -> Any:
    """redis-py types hash fields loosely (bytes, ints, ...); ours are always strings."""
    return mapping


def _index(node: TaskNode) -> int:
    return node.index


def _chunks(items: list[tuple[str, str]], size: int) -> Iterable[list[tuple[str, str]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
