"""`kubecanvas retry`: a new Workflow that reuses what the old one computed.

A Workflow annotated `kubecanvas.io/retry-of: <old name>` (and, from the CLI,
`kubecanvas.io/retry-of-uid`) gets, at admission and before its engine starts, a copy
of the old workflow's SUCCESS records, results and call arguments for every task that
is the same in both (same id, task, arguments, dependencies and options). The engine
then treats those tasks as done: it never launches them again and starts from what
failed, was revoked or never ran. Tasks whose old state is gone from Redis (expired)
simply run again.

Copying is idempotent and happens before the new workflow's graph is stored, so an
operator killed in between copies again on restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from kubecanvas.engine.states import TaskRecord, TaskState
from kubecanvas.graph.nodes import Graph
from kubecanvas.resources import RETRY_OF_ANNOTATION, RETRY_OF_UID_ANNOTATION, WORKFLOW

if TYPE_CHECKING:
    from kubecanvas.store.hostside import WorkflowStore
    from kubecanvas_operator.clients import WorkflowClient

__all__ = ["reuse_results"]

logger = logging.getLogger(__name__)


Notify = Callable[[Mapping[str, Any], str, str, str], None]


async def reuse_results(
    store: WorkflowStore, api: WorkflowClient, notify: Notify, body: Mapping[str, Any], graph: Graph
) -> int:
    """Copy the succeeded tasks of the workflow `body` retries into its own state.
    Returns how many were reused (0 when `body` is not a retry)."""
    metadata = body["metadata"]
    annotations = metadata.get("annotations") or {}
    old_name = annotations.get(RETRY_OF_ANNOTATION)
    if not old_name:
        return 0
    namespace, name, uid = metadata["namespace"], metadata["name"], metadata["uid"]
    fields = {"workflow": name, "namespace": namespace, "workflowUid": uid, "retryOf": old_name}
    old_uid = annotations.get(RETRY_OF_UID_ANNOTATION)
    if not old_uid:
        old_body = await api.get_workflow(namespace, old_name)
        old_uid = (old_body or {}).get("metadata", {}).get("uid")
    old = await store.load(old_uid) if old_uid and old_uid != uid else None
    if old is None:
        message = f"retry of {old_name}: its state is gone from Redis, every task runs again"
        logger.warning("workflow %s/%s: %s", namespace, name, message, extra=fields)
        notify(_reference(metadata), "Warning", "RetryFromScratch", message)
        return 0
    old_nodes = {node.id: node for node in old.graph.nodes}
    reused = [
        node.id
        for node in graph.nodes
        if node.id in old_nodes
        and old_nodes[node.id].to_json() == node.to_json()
        and old.records.get(node.id, TaskRecord()).state == TaskState.SUCCESS
    ]
    reused = await store.copy_succeeded(old.uid, uid, reused)
    message = f"reused the results of {len(reused)} of {len(graph.nodes)} tasks from workflow {old_name}"
    logger.info("workflow %s/%s: %s", namespace, name, message, extra={**fields, "reused": len(reused)})
    notify(_reference(metadata), "Normal", "ResultsReused", message)
    return len(reused)


def _reference(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return WORKFLOW.reference(metadata["name"], metadata["namespace"], metadata.get("uid"))
