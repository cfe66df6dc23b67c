"""The workflow document: what `kubecanvas run -o json` and `kubecanvas get -o json` print.

One builder for both, so the local runner and the cluster cannot drift apart:

    {name, phase, result, error: {task, taskId, type, message} | null,
     tasks: [{id, uuid, task, state, args, kwargs, result, error: {type, message} | null,
              attempts, startedAt, finishedAt}]}

`id` is the task's place in the graph (`t0`, `t1`, ...: the same in every run of a spec);
`uuid` is its own id in this run (Celery's task id, `self.request.id`; see
`kubecanvas.graph.identity`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas._kits.timestamps import to_rfc3339
from kubecanvas.engine.machine import Engine
from kubecanvas.engine.states import TaskState
from kubecanvas.graph.arguments import MissingResult, materialize
from kubecanvas.graph.identity import own_task_id

__all__ = ["TaskEntry", "WorkflowDocument", "workflow_document", "workflow_result"]


class ErrorEntry(TypedDict):
    type: str
    message: str


class TaskEntry(TypedDict):
    id: str
    uuid: str
    task: str
    state: str
    args: list[JSON]
    kwargs: JSONObject
    result: JSON
    error: ErrorEntry | None
    attempts: int
    startedAt: str | None
    finishedAt: str | None


class WorkflowDocument(TypedDict):
    name: str
    phase: str
    result: JSON
    error: JSONObject | None
    tasks: list[TaskEntry]


def workflow_result(engine: Engine, results: Mapping[str, JSON]) -> JSON:
    """The workflow's value (what Celery's `res.get()` returns), or None until it exists."""
    if not engine.result_ready():
        return None
    try:
        return materialize(engine.graph.result, results)
    except MissingResult:
        return None


def workflow_document(
    name: str,
    engine: Engine,
    results: Mapping[str, JSON],
    calls: Mapping[str, JSONObject],
    *,
    uid: str,
) -> WorkflowDocument:
    """The document for a workflow whose state is `engine` (live or resumed from Redis)."""
    error = engine.error()
    tasks: list[TaskEntry] = []
    for node in engine.ordered_nodes():
        record = engine.records[node.id]
        call = calls.get(node.id) or {}
        args, kwargs = call.get("args"), call.get("kwargs")
        failure = record.error if record.state != TaskState.SUCCESS else None
        tasks.append(
            {
                "id": node.id,
                "uuid": own_task_id(uid, node),
                "task": node.task,
                "state": record.state.value,
                "args": args if isinstance(args, list) else list(node.args),
                "kwargs": kwargs if isinstance(kwargs, dict) else dict(node.kwargs),
                "result": results.get(node.id) if record.state == TaskState.SUCCESS else None,
                "error": {"type": failure.type, "message": failure.message} if failure else None,
                "attempts": record.attempt,
                "startedAt": to_rfc3339(record.started_at),
                "finishedAt": to_rfc3339(record.finished_at),
            }
        )
    return {
        "name": name,
        "phase": engine.phase.value,
        "result": workflow_result(engine, results),
        "error": error.to_json() if error else None,
        "tasks": tasks,
    }
