"""Talking to the Kubernetes API about Workflows, for the CLI and the Python client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

from kubernetes import client, config

from kubecanvas.client.credentials import kube_configuration, kubeconfig_file
from kubecanvas.errors import ClusterError, WorkflowNotFound
from kubecanvas.resources import GROUP, VERSION, WORKFLOW

__all__ = [
    "WorkflowApi",
    "default_namespace",
]


def default_namespace() -> str:
    """The namespace of the current kubeconfig context, as kubectl would use."""
    try:
        _, active = config.list_kube_config_contexts(config_file=kubeconfig_file())  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError):
        return "default"
    return str((active or {}).get("context", {}).get("namespace") or "default")


class WorkflowApi:
    def __init__(self, kubeconfig: str | None = None) -> None:
        configuration = kube_configuration(kubeconfig)
        self.api_client = client.ApiClient(configuration)
        self.custom = client.CustomObjectsApi(self.api_client)
        self.core = client.CoreV1Api(self.api_client)

    def close(self) -> None:
        self.api_client.close()  # type: ignore[no-untyped-call]

    def __enter__(self) -> WorkflowApi:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------ Workflows

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        try:
            body = cast(
                dict[str, Any],
                self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, WORKFLOW.plural, name),
            )
        except client.ApiException as error:
            if error.status == 404:
                raise WorkflowNotFound(f"workflow {namespace}/{name} not found") from None
            raise ClusterError(f"cannot read workflow {namespace}/{name}: {_reason(error)}") from None
        except OSError as error:
            raise ClusterError(f"cannot reach the cluster: {error}") from None
        return body

    def create(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
        try:
            body = cast(
                dict[str, Any],
                self.custom.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, WORKFLOW.plural, manifest
                ),
            )
        except client.ApiException as error:
            if error.status == 409:
                name = (manifest.get("metadata") or {}).get("name")
                raise ClusterError(
                    f"workflow {namespace}/{name} already exists (delete it first, or choose another name)"
                ) from None
            raise ClusterError(f"cannot create workflow in {namespace}: {_reason(error)}") from None
        except OSError as error:
            raise ClusterError(f"cannot reach the cluster: {error}") from None
        return body

    def workflows(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """The Workflows of one namespace, or of all of them (None)."""
        try:
            if namespace is None:
                listing = self.custom.list_cluster_custom_object(GROUP, VERSION, WORKFLOW.plural)
            else:
                listing = self.custom.list_namespaced_custom_object(
                    GROUP, VERSION, namespace, WORKFLOW.plural
                )
        except client.ApiException as error:
            where = f"namespace {namespace}" if namespace else "all namespaces"
            raise ClusterError(f"cannot list workflows in {where}: {_reason(error)}") from None
        except OSError as error:
            raise ClusterError(f"cannot reach the cluster: {error}") from None
        return list(cast(dict[str, Any], listing).get("items") or [])

    def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch of the Workflow (spec.revoke is the only field that may change)."""
        try:
            body = cast(
                dict[str, Any],
                self.custom.patch_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    namespace,
                    WORKFLOW.plural,
                    name,
                    patch,
                    _content_type="application/merge-patch+json",
                ),
            )
        except client.ApiException as error:
            if error.status == 404:
                raise WorkflowNotFound(f"workflow {namespace}/{name} not found") from None
            raise ClusterError(f"cannot change workflow {namespace}/{name}: {_reason(error)}") from None
        except OSError as error:
            raise ClusterError(f"cannot reach the cluster: {error}") from None
        return body

    # ------------------------------------------------------------ pods and logs

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        try:
            response: Any = self.core.list_namespaced_pod(
                namespace, label_selector=selector, _preload_content=False
            )
        except client.ApiException as error:
            raise ClusterError(f"cannot list pods in {namespace}: {_reason(error)}") from None
        except OSError as error:
            raise ClusterError(f"cannot reach the cluster: {error}") from None
        return list(json.loads(response.data).get("items") or [])

    def pod_log(self, namespace: str, pod: str, container: str = "task") -> str:
        try:
            response: Any = self.core.read_namespaced_pod_log(
                pod, namespace, container=container, _preload_content=False
            )
        except client.ApiException as error:
            raise ClusterError(f"cannot read the log of pod {pod}: {_reason(error)}") from None
        except OSError as error:
            raise ClusterError(f"cannot reach the cluster: {error}") from None
        return bytes(response.data).decode(errors="replace")

    def follow_pod_log(self, namespace: str, pod: str, container: str = "task") -> Iterator[str]:
        """The pod's log lines as they are written, until its container ends."""
        try:
            response: Any = self.core.read_namespaced_pod_log(
                pod, namespace, container=container, follow=True, _preload_content=False
            )
        except client.ApiException as error:
            raise ClusterError(f"cannot follow the log of pod {pod}: {_reason(error)}") from None
        except OSError as error:
            raise ClusterError(f"cannot reach the cluster: {error}") from None
        pending = b""
        try:
            for chunk in response.stream(4096, decode_content=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode(errors="replace")
            if pending:
                yield pending.decode(errors="replace")
        finally:
            response.release_conn()

    # ------------------------------------------------------------ the operator's Service

    def services(self, selector: str) -> list[dict[str, Any]]:
        """Services with these labels in every namespace (or, when that is forbidden, in the
        current one)."""
        response: Any
        try:
            response = self.core.list_service_for_all_namespaces(
                label_selector=selector, _preload_content=False
            )
        except client.ApiException as error:
            if error.status != 403:
                raise ClusterError(f"cannot list services: {_reason(error)}") from None
            try:
                response = self.core.list_namespaced_service(
                    default_namespace(), label_selector=selector, _preload_content=False
                )
            except client.ApiException as again:
                raise ClusterError(f"cannot list services: {_reason(again)}") from None
        except OSError as error:
            raise ClusterError(f"cannot reach the cluster: {error}") from None
        return list(json.loads(response.data).get("items") or [])

    def proxy_get(self, namespace: str, service: str, port: str, path: str) -> Any:
        """GET `path` from a Service through the API server's service proxy; the JSON it answered."""
        where = f"service {namespace}/{service}:{port}"
        try:
            response: Any = self.core.connect_get_namespaced_service_proxy_with_path(
                f"{service}:{port}", namespace, path.lstrip("/"), _preload_content=False
            )
        except client.ApiException as error:
            raise ClusterError(f"{where}: {_proxy_reason(error)}") from None
        except OSError as error:
            raise ClusterError(f"cannot reach the cluster: {error}") from None
        try:
            return json.loads(response.data)
        except ValueError:
            raise ClusterError(f"{where} answered something that is not JSON") from None


def _reason(error: Any) -> str:
    try:
        return str(json.loads(error.body).get("message") or error.reason)
    except (TypeError, ValueError, AttributeError):
        return str(error.reason)


def _proxy_reason(error: Any) -> str:
    """The operator answers errors as {"error": "..."}; the API server as a Status."""
    try:
        body = json.loads(error.body)
    except (TypeError, ValueError):
        return f"HTTP {error.status} {error.reason}"
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or f"HTTP {error.status} {error.reason}")
    return f"HTTP {error.status} {error.reason}"
