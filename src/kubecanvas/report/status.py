"""The small summary a Workflow keeps in its status, whatever its size.

Per-task state stays in Redis; etcd gets a fixed set of fields, with the result
inline only while it is small (a large one is named by a marker and stays in Redis).
"""

from __future__ import annotations

from collections.abc import Mapping

from kubecanvas._kits.jsonvalues import JSON, JSONObject, dumps
from kubecanvas._kits.timestamps import to_rfc3339
from kubecanvas.engine.machine import Engine
from kubecanvas.engine.states import Phase
from kubecanvas.report.document import workflow_result

__all__ = ["MAX_INLINE_RESULT_BYTES", "phase_message", "workflow_status"]

MAX_INLINE_RESULT_BYTES = 64 * 1024


def workflow_status(engine: Engine, results: Mapping[str, JSON]) -> JSONObject:
    """Phase, progress, counts by state, times, message, result and root-cause error."""
    status: JSONObject = {
        "phase": engine.phase.value,
        "progress": f"{engine.finished_count}/{engine.total}",
        "total": engine.total,
        "counts": dict(engine.counts()),
        "startedAt": to_rfc3339(engine.started_at),
        "finishedAt": to_rfc3339(engine.finished_at),
        "message": phase_message(engine),
    }
    error = engine.error()
    status["error"] = error.to_json() if error else None
    if engine.phase.finished:
        value = workflow_result(engine, results)
        size = len(dumps(value).encode())
        if size <= MAX_INLINE_RESULT_BYTES:
            status["result"] = value
            status["resultRef"] = None
        else:
            status["result"] = None
            status["resultRef"] = {"store": "redis", "bytes": size}
    return status


def phase_message(engine: Engine) -> str:
    """One line for `kubectl get workflows`' MESSAGE column."""
    phase = engine.phase
    if phase == Phase.PENDING:
        return "waiting to start"
    if phase == Phase.RUNNING:
        # A launched attempt whose pod has not reported yet is "starting", not invisible: in a
        # wide group most attempts are there, and "0 running" would read as a stall.
        running = engine.counts().get("STARTED", 0)
        starting = max(engine.in_flight - running, 0)
        done = f"{engine.finished_count} of {engine.total} tasks done, {running} running"
        return f"{done}, {starting} starting" if starting else done
    if phase == Phase.SUCCEEDED:
        return f"all {engine.total} tasks succeeded"
    if phase == Phase.REVOKED:
        return "revoked"
    error = engine.error()
    if error is None:
        return "failed"
    return f"{error.task}[{error.task_id}] raised {error.type}: {error.message}"[:500]
