"""Talking to the Kubernetes API about Workflows, for the CLI and the Python client."""

from __future__ import annotations

import json
import os
from typing import Any, cast

from kubernetes import client, config

from kubecanvas.errors import KubecanvasError

__all__ = ["ClusterError", "WorkflowApi", "default_namespace"]

GROUP, VERSION, PLURAL = "kubecanvas.io", "v1alpha1", "workflows"


class ClusterError(KubecanvasError):
    """The cluster could not be reached, or refused a request; the message says which and why."""


def default_namespace() -> str:
    """The namespace of the current kubeconfig context, as kubectl would use."""
    try:
        _, active = config.list_kube_config_contexts()  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError):
        return "default"
    return str((active or {}).get("context", {}).get("namespace") or "default")


class WorkflowApi:
    def __init__(self, kubeconfig: str | None = None) -> None:
        configuration = client.Configuration()
        try:
            if kubeconfig or os.environ.get("KUBECONFIG") or not os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
            else:
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except (config.ConfigException, OSError) as error:
            raise ClusterError(f"no cluster credentials: {error}") from None
        self.api_client = client.ApiClient(configuration)
        self.custom = client.CustomObjectsApi(self.api_client)

    def close(self) -> None:
        self.api_client.close()  # type: ignore[no-untyped-call]

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        try:
            body = cast(
                dict[str, Any],
                self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name),
            )
        except client.ApiException as error:
            if error.status == 404:
                raise ClusterError(f"workflow {namespace}/{name} not found") from None
            raise ClusterError(f"cannot read workflow {namespace}/{name}: {error.reason}") from None
        return body

    def create(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
        try:
            body = cast(
                dict[str, Any],
                self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest),
            )
        except client.ApiException as error:
            raise ClusterError(f"cannot create workflow in {namespace}: {_reason(error)}") from None
        return body


def _reason(error: Any) -> str:
    try:
        return str(json.loads(error.body).get("message") or error.reason)
    except (TypeError, ValueError, AttributeError):
        return str(error.reason)
