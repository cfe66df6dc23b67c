"""A Service reaches a pod: its EndpointSlice lists the pod, and the API server can call it.

This is how the operator's admission webhook is reached (the API server calls webhook
endpoints directly; there is no kube-proxy), so the node must report a routable address.
"""

from __future__ import annotations

import json
import socket

from support.cluster import Cluster
from support.manifests import container, pod
from support.waiting import wait_until


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        return int(probe.getsockname()[1])


def test_a_service_routes_to_a_ready_pod(cluster: Cluster, namespace: str) -> None:
    port = free_port()
    server = container(
        ["python", "-m", "http.server", str(port), "--bind", "0.0.0.0"],
        ports=[{"containerPort": port, "name": "http"}],
        readinessProbe={"tcpSocket": {"port": port}, "periodSeconds": 1},
    )
    manifest = pod("web", server)
    manifest["metadata"]["labels"] = {"app": "web"}
    cluster.apply(manifest, namespace)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": port, "name": "http"}]},
    }
    cluster.apply(service, namespace)

    def ready_addresses() -> list[str]:
        slices = json.loads(
            cluster.kubectl(
                "get", "endpointslices", "-n", namespace, "-l", "kubernetes.io/service-name=web", "-o", "json"
            )
        )["items"]
        return [
            address
            for item in slices
            for endpoint in item.get("endpoints") or []
            if (endpoint.get("conditions") or {}).get("ready")
            for address in endpoint["addresses"]
        ]

    addresses = wait_until(ready_addresses, timeout=60, what="a ready endpoint for Service web")
    assert addresses == [cluster.env["KUBECANVAS_NODE_IP"]]
    listing = cluster.kubectl("get", "--raw", f"/api/v1/namespaces/{namespace}/services/web:http/proxy/")
    assert "Directory listing" in listing
