"""The workflow document of a Workflow on a cluster: its object plus its state in Redis.

The same builder as the local runner's (`kubecanvas.report`), so `kubecanvas get -o
json` and `kubecanvas run -o json` print the same document for the same outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubecanvas.engine.states import Phase
from kubecanvas.errors import ClusterError
from kubecanvas.report.document import WorkflowDocument, workflow_document
from kubecanvas.resources import WORKFLOW_RESULT
from kubecanvas.store.hostside import WorkflowStore

__all__ = ["document_from_result", "document_of", "result_object"]


async def document_of(body: Mapping[str, Any], store: WorkflowStore) -> WorkflowDocument:
    """The document of the Workflow `body` (as read from the API)."""
    name = body["metadata"]["name"]
    persisted = await store.load(body["metadata"]["uid"])
    if persisted is None:
        return _without_state(name, body.get("status") or {})
    engine = persisted.engine()
    results = await store.results(persisted.uid)
    calls = await store.calls(persisted.uid)
    return workflow_document(name, engine, results, calls, uid=persisted.uid)


def result_object(body: Mapping[str, Any], document: WorkflowDocument) -> dict[str, Any]:
    """The WorkflowResult the results API serves: the document as a Kubernetes object."""
    metadata = body["metadata"]
    return {
        "apiVersion": WORKFLOW_RESULT.api_version,
        "kind": WORKFLOW_RESULT.kind,
        "metadata": {
            key: metadata[key] for key in ("name", "namespace", "uid", "creationTimestamp") if key in metadata
        },
        **{key: value for key, value in document.items() if key != "name"},
    }


def document_from_result(answer: Any) -> WorkflowDocument:
    """The document inside a WorkflowResult (`result_object`'s inverse)."""
    if not isinstance(answer, dict) or answer.get("kind") != WORKFLOW_RESULT.kind or "tasks" not in answer:
        raise ClusterError(f"the results API answered something that is not a {WORKFLOW_RESULT.kind}")
    return {
        "name": answer["metadata"]["name"],
        "phase": answer["phase"],
        "result": answer.get("result"),
        "error": answer.get("error"),
        "tasks": answer["tasks"],
    }


def _without_state(name: str, status: Mapping[str, Any]) -> WorkflowDocument:
    """A Workflow with no state in Redis: not started yet, invalid, or expired there."""
    error = status.get("error")
    return {
        "name": name,
        "phase": str(status.get("phase") or Phase.PENDING.value),
        "result": status.get("result"),
        "error": dict(error) if isinstance(error, dict) else None,
        "tasks": [],
    }
