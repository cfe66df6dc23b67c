"""Talking to the Kubernetes API about Workflows, for the CLI and the Python client.

Every call goes through `kube_calls` (the operator's adapter uses the same path), so a
failure is a `KubeApiError` whose message says what was being done and what the API
server answered."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import client, config

from kubecanvas.canvas.offload import CANVAS_REF, split, stored_part
from kubecanvas.client.credentials import kube_configuration, kubeconfig_file
from kubecanvas.client.kube_calls import call, call_json
from kubecanvas.errors import KubeApiError, WorkflowNotFound
from kubecanvas.resources import GROUP, VERSION, WORKFLOW, WORKFLOW_CANVAS, WORKFLOW_RESULT

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


def _doing(what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`call_json`, its error saying what was being done."""
    try:
        return call_json(function, *args, **kwargs)
    except KubeApiError as error:
        raise error.restated(f"{what}: {error}") from None


def _raw(what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return call(function, *args, **kwargs)
    except KubeApiError as error:
        raise error.restated(f"{what}: {error}") from None


def _results_api(
    what: str, caller: Callable[..., Any], function: Callable[..., Any], *args: Any, otherwise: str = ""
) -> Any:
    """`caller(function, *args)` (`call` or `call_json`) on the operator's results API, its
    error saying what was being done, and where to look when the API is not there."""
    try:
        return caller(function, *args)
    except KubeApiError as error:
        hint = ""
        if error.status in (404, 503):
            api_service = f"{WORKFLOW_RESULT.version}.{WORKFLOW_RESULT.group}"
            hint = f" (is the chart's APIService {api_service} Available?{otherwise})"
        raise error.restated(f"{what}: {error}{hint}") from None


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
        body: dict[str, Any] | None = _doing(
            f"cannot read workflow {namespace}/{name}",
            self.custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            WORKFLOW.plural,
            name,
        )
        if body is None:
            raise WorkflowNotFound(f"workflow {namespace}/{name} not found")
        return body

    def create(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create a Workflow; one whose spec is too large for etcd has its canvas uploaded
        first, and names it (`kubecanvas.canvas.offload`)."""
        manifest = self._offloaded(namespace, manifest)
        create = self.custom.create_namespaced_custom_object
        try:
            body: dict[str, Any] = call_json(create, GROUP, VERSION, namespace, WORKFLOW.plural, manifest)
        except KubeApiError as error:
            if error.status == 409:
                name = (manifest.get("metadata") or {}).get("name")
                raise KubeApiError(
                    409,
                    f"workflow {namespace}/{name} already exists (delete it first, or choose another name)",
                ) from None
            raise error.restated(f"cannot create workflow in {namespace}: {error}") from None
        return body

    def _offloaded(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
        parts = split(manifest.get("spec") or {})
        if parts is None:
            return manifest
        spec, _ = parts
        ref = spec[CANVAS_REF]
        # The fields themselves, not their text parsed again: the API takes its digest as split did.
        stored = stored_part(manifest["spec"])
        upload = {"apiVersion": WORKFLOW_CANVAS.api_version, "kind": WORKFLOW_CANVAS.kind, **stored}
        what = f"cannot upload the canvas of a large workflow ({ref['bytes']:,} bytes) to the results API"
        answer = _results_api(
            what,
            call_json,
            self.custom.create_namespaced_custom_object,
            WORKFLOW_CANVAS.group,
            WORKFLOW_CANVAS.version,
            namespace,
            WORKFLOW_CANVAS.plural,
            upload,
        )
        if not isinstance(answer, dict) or answer.get("sha256") != ref["sha256"]:
            raise KubeApiError(502, f"{what}: it answered {str(answer)[:200]}, not the canvas sent")
        return {**manifest, "spec": spec}

    def workflows(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """The Workflows of one namespace, or of all of them (None)."""
        where = f"namespace {namespace}" if namespace else "all namespaces"
        if namespace is None:
            listing = _doing(
                f"cannot list workflows in {where}",
                self.custom.list_cluster_custom_object,
                GROUP,
                VERSION,
                WORKFLOW.plural,
            )
        else:
            listing = _doing(
                f"cannot list workflows in {where}",
                self.custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                WORKFLOW.plural,
            )
        return list((listing or {}).get("items") or [])

    def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch of the Workflow (spec.revoke is the only field that may change)."""
        body: dict[str, Any] | None = _doing(
            f"cannot change workflow {namespace}/{name}",
            self.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            WORKFLOW.plural,
            name,
            patch,
            _content_type="application/merge-patch+json",
        )
        if body is None:
            raise WorkflowNotFound(f"workflow {namespace}/{name} not found")
        return body

    # ------------------------------------------------------------ pods and logs

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        listing = _doing(
            f"cannot list pods in {namespace}",
            self.core.list_namespaced_pod,
            namespace,
            label_selector=selector,
        )
        return list((listing or {}).get("items") or [])

    def pod_log(self, namespace: str, pod: str, container: str = "task") -> str:
        response = _raw(
            f"cannot read the log of pod {pod}",
            self.core.read_namespaced_pod_log,
            pod,
            namespace,
            container=container,
        )
        return bytes(response.data).decode(errors="replace")

    def follow_pod_log(self, namespace: str, pod: str, container: str = "task") -> Iterator[str]:
        """The pod's log lines as they are written, until its container ends."""
        response = _raw(
            f"cannot follow the log of pod {pod}",
            self.core.read_namespaced_pod_log,
            pod,
            namespace,
            container=container,
            follow=True,
        )
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

    # ------------------------------------------------------------ the results API

    def workflow_result(self, namespace: str, name: str) -> Any:
        """The WorkflowResult of a Workflow, from the operator's results API (an aggregated
        API: the API server checks the user, and so does the operator)."""
        what = f"cannot read the state of workflow {namespace}/{name} from the results API"
        response = _results_api(
            what,
            call,
            self.custom.get_namespaced_custom_object,
            WORKFLOW_RESULT.group,
            WORKFLOW_RESULT.version,
            namespace,
            WORKFLOW_RESULT.plural,
            name,
            otherwise=" Or give Redis directly: --redis URL / KUBECANVAS_REDIS_URL",
        )
        try:
            return json.loads(response.data)
        except ValueError:
            raise KubeApiError(response.status, f"{what}: the answer is not JSON") from None
