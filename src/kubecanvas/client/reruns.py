"""Run a finished Workflow again from its failures, reusing what succeeded.

The new Workflow has the same spec and carries
`metadata.annotations["kubecanvas.io/retry-of"]` (the old name) and
`["kubecanvas.io/retry-of-uid"]`. When the operator admits it, it copies the old
workflow's SUCCESS records and their results into the new one's Redis state before
the engine starts (`kubecanvas_operator.reuse`), so the engine never runs a task
that already succeeded: it starts from the tasks that failed, were revoked, or never ran.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kubecanvas.errors import ClusterError
from kubecanvas.resources import API_VERSION, RETRY_OF_ANNOTATION, RETRY_OF_UID_ANNOTATION

if TYPE_CHECKING:
    from kubecanvas.client.results import AsyncResult, GroupResult

__all__ = ["retry", "retry_manifest"]


_RETRY_SUFFIX = re.compile(r"-retry-[a-z0-9]{5}$")


def retry_manifest(body: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
    """The Workflow that retries the finished Workflow `body`. Without `name` it gets a
    generated one: `<name>-retry-xxxxx` (a retry of a retry keeps the original stem)."""
    metadata = body["metadata"]
    old = f"{metadata['namespace']}/{metadata['name']}"
    phase = (body.get("status") or {}).get("phase")
    if phase == "Succeeded":
        raise ClusterError(f"workflow {old} succeeded: there is nothing to retry")
    if phase not in ("Failed", "Revoked"):
        raise ClusterError(
            f"workflow {old} has not finished (phase {phase or 'Pending'}): "
            "wait for it, or revoke it first (kubecanvas revoke)"
        )
    spec = copy.deepcopy(dict(body.get("spec") or {}))
    spec.pop("revoke", None)
    new_metadata: dict[str, Any] = {"namespace": metadata["namespace"]}
    if name:
        new_metadata["name"] = name
    else:
        stem = _RETRY_SUFFIX.sub("", str(metadata["name"]))[:50].rstrip("-.")
        new_metadata["generateName"] = f"{stem}-retry-"
    labels = {key: value for key, value in (metadata.get("labels") or {}).items() if "kopf" not in key}
    if labels:
        new_metadata["labels"] = labels
    new_metadata["annotations"] = {
        RETRY_OF_ANNOTATION: str(metadata["name"]),
        RETRY_OF_UID_ANNOTATION: str(metadata["uid"]),
    }
    return {
        "apiVersion": body.get("apiVersion", API_VERSION),
        "kind": "Workflow",
        "metadata": new_metadata,
        "spec": spec,
    }


def retry(
    name: str,
    namespace: str | None = None,
    *,
    new_name: str | None = None,
    redis_url: str | None = None,
    kubeconfig: str | None = None,
) -> AsyncResult | GroupResult:
    """Retry the finished Workflow `name`; the new workflow's result."""
    from kubecanvas.client.cluster import WorkflowApi, default_namespace
    from kubecanvas.client.results.submit import result_for
    from kubecanvas.client.results.workflow import RemoteWorkflow
    from kubecanvas.client.settings import resolve

    settings = resolve(redis_url=redis_url, kubeconfig=kubeconfig)
    api = WorkflowApi(settings.kubeconfig)
    target = namespace or settings.namespace or default_namespace()
    manifest = retry_manifest(api.get(target, name), new_name)
    body = api.create(target, manifest)
    return result_for(RemoteWorkflow.from_body(body, settings, api))
