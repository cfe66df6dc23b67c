"""Every path, port, address and name of the local cluster, in one place.

Ports can be moved with environment variables (`KUBECANVAS_<NAME>_PORT`) when another program
on the host holds one. Addresses are private ranges of the cluster's own: a bridge that no
other interface routes to, so nothing a pod sends leaves the machine.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".bin"
VENV_BIN = ROOT / ".venv" / "bin"
STATE = ROOT / ".cluster"
PKI = STATE / "pki"
LOGS = STATE / "logs"
PIDS = STATE / "pids"
ETCD_DATA = STATE / "etcd"
KUBECONFIG = STATE / "kubeconfig"
# The node: containerd's root and state, the kubelet's root and pod logs, CNI configuration and
# address allocations, the volumes of the storage class. `down` unmounts and wipes all of it.
NODE_STATE = STATE / "node"
CACHE = Path(
    os.environ.get("KUBECANVAS_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kubecanvas"
)
# Pushed images outlive the cluster (a rebuild is skipped when its tag is already there).
REGISTRY_DATA = CACHE / "registry"
HOST_RECORD = STATE / "host.json"  # sysctl values `up` changed, restored by `down`

NODE_NAME = os.environ.get("KUBECANVAS_NODE_NAME", "kubecanvas-node")

# The pod network: one bridge; the host is its gateway and the node's address. The API server,
# the kubelet and the host's Redis listen on it, so pods reach them without leaving the bridge.
BRIDGE = "kubecanvas0"
POD_CIDR = "10.244.0.0/24"
NODE_IP = "10.244.0.1"
POD_PREFIX = 24
SERVICE_CIDR = "10.96.0.0/24"
SERVICE_IP = "10.96.0.1"  # the first address of SERVICE_CIDR: the `kubernetes` Service
DNS_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
# The cgroup under which the kubelet puts every pod, in every hierarchy.
CGROUP_ROOT = "kubecanvas"


def _port(variable: str, default: int) -> int:
    value = os.environ.get(variable, str(default))
    if not value.isdigit() or not 0 < int(value) < 65536:
        sys.exit(f"{variable}={value!r} is not a TCP port")
    return int(value)


APISERVER_PORT = _port("KUBECANVAS_APISERVER_PORT", 16443)
ETCD_PORT = _port("KUBECANVAS_ETCD_PORT", 23790)
ETCD_PEER_PORT = _port("KUBECANVAS_ETCD_PEER_PORT", 23800)
KCM_PORT = _port("KUBECANVAS_KCM_PORT", 20257)
SCHEDULER_PORT = _port("KUBECANVAS_SCHEDULER_PORT", 20259)
KUBELET_PORT = _port("KUBECANVAS_KUBELET_PORT", 20250)
KUBELET_HEALTHZ_PORT = _port("KUBECANVAS_KUBELET_HEALTHZ_PORT", 20248)
PROXY_HEALTHZ_PORT = _port("KUBECANVAS_PROXY_HEALTHZ_PORT", 20256)
PROXY_METRICS_PORT = _port("KUBECANVAS_PROXY_METRICS_PORT", 20249)
REDIS_PORT = _port("KUBECANVAS_REDIS_PORT", 16379)
REGISTRY_PORT = _port("KUBECANVAS_REGISTRY_PORT", 15000)
PORT_VARIABLES = {
    APISERVER_PORT: "KUBECANVAS_APISERVER_PORT",
    ETCD_PORT: "KUBECANVAS_ETCD_PORT",
    ETCD_PEER_PORT: "KUBECANVAS_ETCD_PEER_PORT",
    KCM_PORT: "KUBECANVAS_KCM_PORT",
    SCHEDULER_PORT: "KUBECANVAS_SCHEDULER_PORT",
    KUBELET_PORT: "KUBECANVAS_KUBELET_PORT",
    KUBELET_HEALTHZ_PORT: "KUBECANVAS_KUBELET_HEALTHZ_PORT",
    PROXY_HEALTHZ_PORT: "KUBECANVAS_PROXY_HEALTHZ_PORT",
    PROXY_METRICS_PORT: "KUBECANVAS_PROXY_METRICS_PORT",
    REDIS_PORT: "KUBECANVAS_REDIS_PORT",
    REGISTRY_PORT: "KUBECANVAS_REGISTRY_PORT",
}

APISERVER_URL = f"https://{NODE_IP}:{APISERVER_PORT}"
REGISTRY = f"127.0.0.1:{REGISTRY_PORT}"
# Every public registry name a manifest may use resolves to the local registry: no pull ever
# tries to leave the machine, and the chart's default image names work unchanged.
MIRRORED_REGISTRIES = ("docker.io", "ghcr.io", "registry.k8s.io", "quay.io", "gcr.io", "k8s.gcr.io", REGISTRY)
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
COREDNS_IMAGE_PATH = "coredns/coredns"  # its tag is the pinned CoreDNS version (hack/versions.env)


def pinned_versions() -> dict[str, str]:
    """hack/versions.env as a mapping: the one place versions are pinned."""
    pins = {}
    for line in (ROOT / "hack" / "versions.env").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.startswith("#"):
            pins[name.strip()] = value.strip()
    return pins
