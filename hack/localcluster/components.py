"""The cluster's host processes, in start order, each with its readiness check."""

from __future__ import annotations

import os

from . import node
from .apiclient import api, http_get
from .pki import FRONT_PROXY_CLIENT, kubeconfig_path
from .processes import Component
from .settings import (
    APISERVER_PORT,
    APISERVER_URL,
    BIN,
    ETCD_DATA,
    ETCD_PEER_PORT,
    ETCD_PORT,
    KCM_PORT,
    KUBELET_HEALTHZ_PORT,
    KUBELET_PORT,
    NODE_IP,
    NODE_NAME,
    PKI,
    POD_CIDR,
    PROXY_HEALTHZ_PORT,
    PROXY_METRICS_PORT,
    REDIS_PORT,
    REGISTRY_DATA,
    REGISTRY_PORT,
    ROOT,
    SCHEDULER_PORT,
    SERVICE_CIDR,
    STATE,
)

REDIS_DATA = STATE / "redis"
REGISTRY_CONFIG = ROOT / "hack" / "registry.yml"  # storage and address set by environment


def _bin(name: str) -> str:
    return str(BIN / name)


def etcd_healthy() -> bool:
    status, body = http_get(f"http://127.0.0.1:{ETCD_PORT}/health")
    return status == 200 and b'"health":"true"' in body


def redis_healthy() -> bool:
    import socket

    try:
        with socket.create_connection((NODE_IP, REDIS_PORT), timeout=1) as conn:
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def registry_healthy() -> bool:
    return http_get(f"http://127.0.0.1:{REGISTRY_PORT}/v2/", client=None)[0] == 200


def apiserver_ready() -> bool:
    return http_get(f"{APISERVER_URL}/readyz")[0] == 200


def kcm_healthy() -> bool:
    return http_get(f"https://127.0.0.1:{KCM_PORT}/healthz", client=None)[0] == 200


def scheduler_healthy() -> bool:
    return http_get(f"https://127.0.0.1:{SCHEDULER_PORT}/healthz", client=None)[0] == 200


def kubelet_healthy() -> bool:
    return http_get(f"http://127.0.0.1:{KUBELET_HEALTHZ_PORT}/healthz", client=None)[0] == 200


def proxy_healthy() -> bool:
    return http_get(f"http://127.0.0.1:{PROXY_HEALTHZ_PORT}/healthz", client=None)[0] == 200


def node_ready() -> bool:
    found = api(f"/api/v1/nodes/{NODE_NAME}")
    conditions = found.get("status", {}).get("conditions", []) if found else []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def components() -> list[Component]:
    """Every process of the cluster, in start order."""
    pki = str(PKI)
    path = os.pathsep.join(
        [str(BIN), "/usr/local/sbin", "/usr/sbin", "/sbin", os.environ.get("PATH", "/usr/bin:/bin")]
    )
    return [
        Component(
            "etcd",
            [
                _bin("etcd"), "--name", "kubecanvas", "--data-dir", str(ETCD_DATA),
                "--listen-client-urls", f"http://127.0.0.1:{ETCD_PORT}",
                "--advertise-client-urls", f"http://127.0.0.1:{ETCD_PORT}",
                "--listen-peer-urls", f"http://127.0.0.1:{ETCD_PEER_PORT}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{ETCD_PEER_PORT}",
                "--initial-cluster", f"kubecanvas=http://127.0.0.1:{ETCD_PEER_PORT}",
                "--unsafe-no-fsync", "--log-level", "warn",
            ],
            etcd_healthy, [ETCD_PORT, ETCD_PEER_PORT], "etcd not built: run make tools",
        ),
        Component(
            # Reached by the operator on the host and by task pods on the bridge. It keeps an
            # append-only file, as the chart's Redis does, so a restart loses nothing.
            "redis",
            [
                "redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", NODE_IP,
                "--protected-mode", "no", "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
                "--dir", str(REDIS_DATA), "--daemonize", "no",
            ],
            redis_healthy, [REDIS_PORT], "redis-server not found: run hack/install-deps.sh",
        ),
        Component(
            "registry",
            [_bin("registry"), "serve", str(REGISTRY_CONFIG)],
            registry_healthy, [REGISTRY_PORT], "registry not built: run make tools",
            env={
                "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(REGISTRY_DATA),
                "REGISTRY_HTTP_ADDR": f"127.0.0.1:{REGISTRY_PORT}",
            },
        ),
        Component(
            "kube-apiserver",
            [
                _bin("kube-apiserver"),
                "--etcd-servers", f"http://127.0.0.1:{ETCD_PORT}",
                # The node's address on the pod bridge: pods reach it through the `kubernetes`
                # Service (kube-proxy), the host directly; it is never on another interface.
                "--bind-address", NODE_IP, "--advertise-address", NODE_IP,
                "--secure-port", str(APISERVER_PORT),
                "--tls-cert-file", f"{pki}/apiserver.crt", "--tls-private-key-file", f"{pki}/apiserver.key",
                "--client-ca-file", f"{pki}/ca.crt",
                "--authorization-mode", "Node,RBAC",
                "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
                "--service-account-key-file", f"{pki}/sa.pub",
                "--service-account-signing-key-file", f"{pki}/sa.key",
                "--service-cluster-ip-range", SERVICE_CIDR,
                # Webhooks and aggregated APIs are called at a ready endpoint of their Service,
                # not its ClusterIP: kube-proxy programs a new endpoint a moment after it is
                # ready, and a `kubectl apply` right after `helm install --wait` would be refused.
                "--enable-aggregator-routing=true",
                # The aggregation layer (pki.py): aggregated API servers learn the user from
                # these headers, believed only with this CA's client certificate.
                "--requestheader-client-ca-file", f"{pki}/front-proxy-ca.crt",
                "--requestheader-allowed-names", FRONT_PROXY_CLIENT,
                "--requestheader-username-headers", "X-Remote-User",
                "--requestheader-group-headers", "X-Remote-Group",
                "--requestheader-extra-headers-prefix", "X-Remote-Extra-",
                "--proxy-client-cert-file", f"{pki}/{FRONT_PROXY_CLIENT}.crt",
                "--proxy-client-key-file", f"{pki}/{FRONT_PROXY_CLIENT}.key",
                "--kubelet-client-certificate", f"{pki}/apiserver-kubelet-client.crt",
                "--kubelet-client-key", f"{pki}/apiserver-kubelet-client.key",
                "--kubelet-certificate-authority", f"{pki}/ca.crt",
                "--kubelet-preferred-address-types", "InternalIP,Hostname",
                "--allow-privileged=true",
                "--profiling=false",
            ],
            apiserver_ready, [APISERVER_PORT], "kube-apiserver not built: run make tools",
        ),
        Component(
            "containerd",
            node.containerd_argv(),
            node.containerd_ready, [], "containerd not found: run hack/install-deps.sh",
            env={"PATH": path}, grace=20.0,
        ),
        Component(
            "kube-controller-manager",
            [
                _bin("kube-controller-manager"),
                "--kubeconfig", str(kubeconfig_path("kube-controller-manager")),
                # No authentication/authorization kubeconfig: only /healthz is served, which is
                # always allowed, and kcm need not look up the API server's authentication config.
                "--bind-address", "127.0.0.1", "--secure-port", str(KCM_PORT),
                "--tls-cert-file", f"{pki}/kube-controller-manager-serving.crt",
                "--tls-private-key-file", f"{pki}/kube-controller-manager-serving.key",
                "--controllers", "*",
                "--use-service-account-credentials",
                "--root-ca-file", f"{pki}/ca.crt",
                "--service-account-private-key-file", f"{pki}/sa.key",
                "--cluster-signing-cert-file", f"{pki}/ca.crt", "--cluster-signing-key-file", f"{pki}/ca.key",
                "--service-cluster-ip-range", SERVICE_CIDR, "--cluster-cidr", POD_CIDR,
                "--leader-elect=false",
                "--profiling=false",
                # Each controller gets its own service account and token at startup: the default
                # client rate limit (20 qps) alone would add seconds to every `up`.
                "--kube-api-qps=500", "--kube-api-burst=1000",
            ],
            kcm_healthy, [KCM_PORT], "kube-controller-manager not built: run make tools",
        ),
        Component(
            "kube-scheduler",
            [
                _bin("kube-scheduler"),
                "--kubeconfig", str(kubeconfig_path("kube-scheduler")),
                "--bind-address", "127.0.0.1", "--secure-port", str(SCHEDULER_PORT),
                "--tls-cert-file", f"{pki}/kube-scheduler-serving.crt",
                "--tls-private-key-file", f"{pki}/kube-scheduler-serving.key",
                "--leader-elect=false", "--profiling=false",
                "--kube-api-qps=500", "--kube-api-burst=1000",
            ],
            scheduler_healthy, [SCHEDULER_PORT], "kube-scheduler not built: run make tools",
        ),
        Component(
            "kubelet",
            node.kubelet_argv(_bin("kubelet"), kubeconfig_path("kubelet")),
            kubelet_healthy, [KUBELET_PORT, KUBELET_HEALTHZ_PORT], "kubelet not built: run make tools",
            env={"PATH": path}, grace=20.0,
        ),
        Component(
            "kube-proxy",
            node.proxy_argv(_bin("kube-proxy")),
            proxy_healthy, [PROXY_HEALTHZ_PORT, PROXY_METRICS_PORT], "kube-proxy not built: run make tools",
            env={"PATH": path},
        ),
    ]  # fmt: skip
