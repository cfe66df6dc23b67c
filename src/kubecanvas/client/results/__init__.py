"""Celery's `AsyncResult` and `GroupResult` for Workflows on a cluster, backed by Redis.

    res = (add.s(2, 2) | mul.s(10)).apply_async(namespace="team-a", code=CODE)
    res.get(timeout=60)        # 40, or raises the root cause (its class when importable)
    res.parent.get()           # 4: the result of the task before the last one

`submit` creates the Workflow and returns an `AsyncResult` for it (a `GroupResult` when
its value is a list of results: a group, chunks). Its `id` is the Workflow's name; the
result of one task is `AsyncResult("<workflow>/<task id>")`. Results read the per-task
state from Redis (`KUBECANVAS_REDIS_URL`, `configure(redis_url=...)` or `redis_url=`),
and `get()` waits on Redis notifications (`kubecanvas.client.notifications`), never by
polling the API server.

What "ready" means: the value of a whole workflow is ready when every task it is made
of succeeded (a `link` callback may still be running), or when the workflow finished;
the value of one task when the task finished. `get()` of a failed workflow raises the
root cause (`status.error`), as Celery's `res.get()` does; `get()` of one task raises
that task's own error (a `ChordError` for a chord body, a `TaskRevokedError` for a task
that never ran).

The package, one idea per module: `submit` creates the Workflow; `workflow` reads one
Workflow's state (Kubernetes for its object, the store for task states) and waits for
news; `states` maps what it read to Celery's states; `handles` are the result objects
users hold (`AsyncResult`, `GroupResult`). A failure comes back through
`kubecanvas.report.exceptions`, which imports no module named by stored data.
"""

from kubecanvas.client.results.handles import AsyncResult, GroupResult
from kubecanvas.client.results.states import READY_STATES
from kubecanvas.client.results.submit import result_for, submit
from kubecanvas.errors import ResultTimeoutError

__all__ = [
    "READY_STATES",
    "AsyncResult",
    "GroupResult",
    "ResultTimeoutError",
    "result_for",
    "submit",
]
