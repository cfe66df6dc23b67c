"""The task pod's view of the store: read one task's inputs, report its outcome.

Synchronous and small on purpose: every task pod imports it, and a chain's hop time
includes that import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas.engine.states import TaskFailure, TaskRecord
from kubecanvas.graph.nodes import TaskNode, TaskNodeJSON, ref_node_ids
from kubecanvas.store.layout import (
    DEFAULT_EVENTS_STREAM,
    EVENTS_MAXLEN,
    Outcome,
    TaskEvent,
    WorkflowKeys,
    decode,
    encode,
)

__all__ = ["FailedTask", "TaskInputs", "TaskStore", "connect"]

MISSING: Any = object()


def connect(url: str, password: str | None = None, *, attempts: int = 8) -> redis.Redis:
    """A Redis client that retries connection errors with exponential backoff
    (about half a minute in all), so a Redis restart does not fail every task."""
    retry = Retry(ExponentialBackoff(cap=5.0, base=0.05), attempts)
    client: redis.Redis = redis.Redis.from_url(
        url,
        password=password or None,
        decode_responses=True,
        retry=retry,
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        socket_connect_timeout=5,
        health_check_interval=30,
    )
    return client


@dataclass(frozen=True, slots=True)
class FailedTask:
    """What an errback is told about the failure that triggered it."""

    node: TaskNode
    args: list[JSON]
    kwargs: JSONObject
    error: TaskFailure

    def to_json(self) -> JSONObject:
        return {
            "node": cast(JSONObject, self.node.to_json()),
            "args": self.args,
            "kwargs": self.kwargs,
            "error": self.error.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> FailedTask:
        return cls(
            node=TaskNode.from_json(data["node"]),
            args=list(data.get("args") or []),
            kwargs=dict(data.get("kwargs") or {}),
            error=TaskFailure.from_json(data.get("error")),
        )


@dataclass(frozen=True, slots=True)
class TaskInputs:
    node: TaskNode
    results: dict[str, JSON]  # the results the node's input refers to
    spec_args: list[JSON]
    spec_kwargs: JSONObject
    failed: FailedTask | None = None  # for an errback

    def to_json(self) -> JSONObject:
        """The inputs as one document: how the local runner hands them to a subprocess."""
        return {
            "node": cast(JSONObject, self.node.to_json()),
            "results": self.results,
            "specArgs": self.spec_args,
            "specKwargs": self.spec_kwargs,
            "failed": self.failed.to_json() if self.failed else None,
        }

    @classmethod
    def from_json(cls, data: Any) -> TaskInputs:
        failed = data.get("failed")
        return cls(
            node=TaskNode.from_json(data["node"]),
            results=dict(data.get("results") or {}),
            spec_args=list(data.get("specArgs") or []),
            spec_kwargs=dict(data.get("specKwargs") or {}),
            failed=FailedTask.from_json(failed) if failed else None,
        )


class TaskStore:
    def __init__(self, client: redis.Redis, workflow_uid: str, events_stream: str = DEFAULT_EVENTS_STREAM):
        self.client = client
        self.keys = WorkflowKeys(workflow_uid)
        self.events_stream = events_stream

    def load(self, task_id: str) -> TaskInputs:
        raw_node, raw_args, raw_kwargs = self._pipeline_results(
            lambda pipe: (
                pipe.hget(self.keys.nodes, task_id),
                pipe.hget(self.keys.meta, "args"),
                pipe.hget(self.keys.meta, "kwargs"),
            )
        )
        if raw_node is None:
            raise LookupError(
                f"task {task_id!r} is not part of workflow {self.keys.uid} (is the workflow deleted?)"
            )
        node = TaskNode.from_json(cast(TaskNodeJSON, decode(raw_node)))
        needed = list(ref_node_ids(node.input.ref)) if node.input and node.input.ref else []
        results: dict[str, JSON] = {}
        if needed and not node.immutable:
            values = cast(list[str | None], self.client.hmget(self.keys.results, needed))
            results = {
                node_id: decode(value)
                for node_id, value in zip(needed, values, strict=True)
                if value is not None
            }
        failed = self._failed(node.input.failed) if node.input and node.input.failed else None
        spec_args, spec_kwargs = decode(raw_args), decode(raw_kwargs)
        return TaskInputs(
            node=node,
            results=results,
            spec_args=spec_args if isinstance(spec_args, list) else [],
            spec_kwargs=spec_kwargs if isinstance(spec_kwargs, dict) else {},
            failed=failed,
        )

    def _failed(self, task_id: str) -> FailedTask:
        raw_node, raw_call, raw_record = self._pipeline_results(
            lambda pipe: (
                pipe.hget(self.keys.nodes, task_id),
                pipe.hget(self.keys.calls, task_id),
                pipe.hget(self.keys.records, task_id),
            )
        )
        node = TaskNode.from_json(cast(TaskNodeJSON, decode(raw_node)))
        call = decode(raw_call)
        record = TaskRecord.from_json(decode(raw_record) or {})
        call = call if isinstance(call, dict) else {"args": list(node.args), "kwargs": node.kwargs}
        args, kwargs = call.get("args"), call.get("kwargs")
        return FailedTask(
            node=node,
            args=args if isinstance(args, list) else [],
            kwargs=kwargs if isinstance(kwargs, dict) else {},
            error=record.error or TaskFailure("Error", "unknown failure"),
        )

    def record_start(
        self, task_id: str, attempt: int, args: list[JSON], kwargs: JSONObject, at: float
    ) -> None:
        """Keep the actual call (errbacks and `kubecanvas get` show it) and announce the start."""
        event = TaskEvent(self.keys.uid, task_id, attempt, "started", at=at)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.calls, task_id, encode({"args": args, "kwargs": kwargs}))
            pipe.xadd(self.events_stream, event.to_fields(), maxlen=EVENTS_MAXLEN, approximate=True)  # type: ignore[arg-type]
            pipe.execute()

    def record_outcome(self, task_id: str, attempt: int, outcome: Outcome, value: JSON = MISSING) -> bool:
        """Write the attempt's outcome (and a success's value) once, then announce it.

        Returns False when this attempt had already reported: the stored outcome and
        result stay as first written."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hsetnx(
                self.keys.outcomes, WorkflowKeys.outcome_field(task_id, attempt), encode(outcome.to_json())
            )
            if value is not MISSING:
                pipe.hsetnx(self.keys.results, task_id, encode(value))
            event = TaskEvent(
                self.keys.uid, task_id, attempt, outcome.kind, outcome=outcome, at=outcome.finished_at
            )
            pipe.xadd(self.events_stream, event.to_fields(), maxlen=EVENTS_MAXLEN, approximate=True)  # type: ignore[arg-type]
            written = pipe.execute()
        return bool(written[0])

    def _pipeline_results(self, build: Any) -> list[Any]:
        with self.client.pipeline(transaction=False) as pipe:
            build(pipe)
            results: list[Any] = pipe.execute()
            return results
