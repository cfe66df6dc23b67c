"""The task pod's view of the store: read one task's inputs, report its outcome.

Synchronous and small on purpose, on the minimal client in `wire`: every task pod
imports it, and a chain's hop time includes that import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas.engine.states import TaskFailure, TaskRecord
from kubecanvas.errors import StoreReplyError
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
from kubecanvas.store.wire import Command, Connection

__all__ = ["FailedTask", "TaskInputs", "TaskStore", "connect", "failed_task", "needed_results"]

MISSING: Any = object()


def connect(
    url: str,
    password: str | None = None,
    *,
    username: str | None = None,
    ca: str | None = None,
    retry_for: float = 30.0,
) -> Connection:
    """A connection (as `username`: the workflow's own Redis user, store/tenancy.py) that
    retries connection errors with exponential backoff for `retry_for` seconds, so a Redis
    restart does not fail every task."""
    return Connection.from_url(url, password, username=username, ca=ca, retry_for=retry_for)


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


def needed_results(node: TaskNode) -> list[str]:
    """The results a node's call is built from (none for an immutable node): the one rule,
    for a task pod reading Redis and for the local runner reading its memory."""
    if node.immutable or node.input is None or node.input.ref is None:
        return []
    return list(ref_node_ids(node.input.ref))


def failed_task(node: TaskNode, call: JSON, error: TaskFailure | None) -> FailedTask:
    """What an errback is told of `node`'s failure: the call it actually made (its own
    arguments when none was recorded) and its error."""
    recorded = call if isinstance(call, dict) else {}
    args, kwargs = recorded.get("args"), recorded.get("kwargs")
    return FailedTask(
        node=node,
        args=args if isinstance(args, list) else list(node.args),
        kwargs=kwargs if isinstance(kwargs, dict) else dict(node.kwargs),
        error=error or TaskFailure("Error", "unknown failure"),
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
    def __init__(self, client: Connection, workflow_uid: str, events_stream: str = DEFAULT_EVENTS_STREAM):
        self.client = client
        self.keys = WorkflowKeys(workflow_uid)
        self.events_stream = events_stream

    def load(self, task_id: str) -> TaskInputs:
        raw_node, raw_args, raw_kwargs = self._read(
            ("HGET", self.keys.nodes, task_id),
            ("HGET", self.keys.meta, "args"),
            ("HGET", self.keys.meta, "kwargs"),
        )
        if raw_node is None:
            raise LookupError(
                f"task {task_id!r} is not part of workflow {self.keys.uid} (is the workflow deleted?)"
            )
        node = TaskNode.from_json(cast(TaskNodeJSON, decode(raw_node)))
        needed = needed_results(node)
        results: dict[str, JSON] = {}
        if needed:
            values = cast(list[str | None], self.client.execute("HMGET", self.keys.results, *needed))
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
        raw_node, raw_call, raw_record = self._read(
            ("HGET", self.keys.nodes, task_id),
            ("HGET", self.keys.calls, task_id),
            ("HGET", self.keys.records, task_id),
        )
        node = TaskNode.from_json(cast(TaskNodeJSON, decode(raw_node)))
        record = TaskRecord.from_json(decode(raw_record) or {})
        return failed_task(node, decode(raw_call), record.error)

    def record_start(
        self, task_id: str, attempt: int, args: list[JSON], kwargs: JSONObject, at: float
    ) -> None:
        """Keep the actual call (errbacks and `kubecanvas get` show it) and announce the start."""
        event = TaskEvent(self.keys.uid, task_id, attempt, "started", at=at)
        self.client.pipeline(
            [
                ("HSET", self.keys.calls, task_id, encode({"args": args, "kwargs": kwargs})),
                self._announce(event),
            ],
            transaction=True,
        )

    def record_outcome(self, task_id: str, attempt: int, outcome: Outcome, value: JSON = MISSING) -> bool:
        """Write the attempt's outcome (and a success's value) once, then announce it.

        Returns False when this attempt had already reported: the stored outcome and
        result stay as first written."""
        commands: list[Command] = [
            (
                "HSETNX",
                self.keys.outcomes,
                WorkflowKeys.outcome_field(task_id, attempt),
                encode(outcome.to_json()),
            )
        ]
        if value is not MISSING:
            commands.append(("HSETNX", self.keys.results, task_id, encode(value)))
        event = TaskEvent(
            self.keys.uid, task_id, attempt, outcome.kind, outcome=outcome, at=outcome.finished_at
        )
        commands.append(self._announce(event))
        written = self.client.pipeline(commands, transaction=True)
        return written[0] == 1

    def _announce(self, event: TaskEvent) -> Command:
        fields = [part for pair in event.to_fields().items() for part in pair]
        return ("XADD", self.events_stream, "MAXLEN", "~", EVENTS_MAXLEN, "*", *fields)

    def _read(self, *commands: Command) -> list[Any]:
        """The replies of read commands; StoreReplyError if Redis refused one (never a refusal
        read as a value)."""
        replies: list[Any] = self.client.pipeline(commands)
        refused = next((reply for reply in replies if isinstance(reply, StoreReplyError)), None)
        if refused is not None:
            raise refused
        return replies
