"""Creating a Workflow and handing back its result."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kubecanvas.client.publishing import RetryPolicy, create_with_retries
from kubecanvas.client.results.handles import AsyncResult, GroupResult
from kubecanvas.client.results.workflow import RemoteWorkflow
from kubecanvas.client.settings import resolve
from kubecanvas.graph.nodes import Graph, ListRef

__all__ = ["result_for", "submit"]


def submit(
    manifest: Mapping[str, Any],
    *,
    namespace: str | None = None,
    redis_url: str | None = None,
    kubeconfig: str | None = None,
    retry: bool = True,
    retry_policy: Mapping[str, Any] | None = None,
    check: Callable[[Mapping[str, Any]], Graph] | None = None,
) -> AsyncResult | GroupResult:
    """Create the Workflow `manifest` on the cluster; its result to wait on.

    The namespace is `namespace`, else the manifest's, else `configure(namespace=)`,
    else the kubeconfig context's; a manifest without `spec.code` gets
    `configure(code=)`'s. The manifest is validated here first, as it will be created
    (InvalidWorkflow, with field paths), before any credentials are needed: by `check`,
    which returns its compiled graph (the SDK's also checks a call's arguments against its
    tasks), else by `kubecanvas.check`. Once: a canvas of many items takes seconds to
    compile. Creating needs only the Kubernetes API, and is retried as Celery retries
    publishing (`retry`, `retry_policy`: client/publishing.py); reading the result needs Redis."""
    from kubecanvas.check import checked_workflow
    from kubecanvas.client.cluster import WorkflowApi, default_namespace

    settings = resolve(redis_url=redis_url, kubeconfig=kubeconfig)
    metadata = dict(manifest.get("metadata") or {})
    target = namespace or metadata.get("namespace") or settings.namespace or default_namespace()
    body_manifest = {**manifest, "metadata": {**metadata, "namespace": target}}
    spec = dict(manifest.get("spec") or {})
    if settings.code is not None and not spec.get("code"):
        body_manifest["spec"] = {**spec, "code": dict(settings.code)}
    graph = check(body_manifest) if check is not None else checked_workflow(body_manifest).graph
    api = WorkflowApi(settings.kubeconfig)
    name = str((body_manifest.get("metadata") or {}).get("name") or "")
    body = create_with_retries(
        lambda: api.create(target, dict(body_manifest)),
        lambda: api.get(target, name),
        RetryPolicy.of(retry, retry_policy),
    )
    return result_for(RemoteWorkflow.from_body(body, settings, api, graph))


def result_for(workflow: RemoteWorkflow) -> AsyncResult | GroupResult:
    """The result of a whole workflow: a GroupResult when its value is a list of results."""
    ref = workflow.graph.result
    if isinstance(ref, ListRef):
        return GroupResult(workflow.name, _workflow=workflow, _ref=ref, _top=True)
    return AsyncResult(workflow.name, _workflow=workflow, _ref=ref, _top=True)
