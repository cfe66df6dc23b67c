"""`up`, `down` and `status`: the cluster as one thing that is either there or not."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from . import addons, hostnet, node
from .apiclient import api
from .components import REDIS_DATA, components, node_ready
from .pki import ensure_pki, kubeconfig_path, write_kubeconfigs
from .processes import ClusterError, Component, port_free, running, say, start, stop, wait_for
from .settings import (
    APISERVER_PORT,
    ETCD_DATA,
    KUBECONFIG,
    LOGS,
    NODE_IP,
    NODE_NAME,
    NODE_STATE,
    PIDS,
    PORT_VARIABLES,
    REDIS_PORT,
    REGISTRY,
    ROOT,
    STATE,
)

# Stopped first at `down`: what runs pods, so that no pod is restarted while the rest goes.
NODE_PARTS = ("kube-proxy", "kubelet", "kube-scheduler", "kube-controller-manager", "containerd")


def write_files() -> None:
    for directory in (STATE, LOGS, PIDS, REDIS_DATA):
        directory.mkdir(parents=True, exist_ok=True)
    ensure_pki()
    write_kubeconfigs()
    node.write_configs({"kube-proxy": kubeconfig_path("kube-proxy")})
    (STATE / "env").write_text(
        f"""# Written by hack/cluster.py: `source .cluster/env` to talk to the local cluster.
export KUBECONFIG={KUBECONFIG}
export KUBECANVAS_REDIS_URL=redis://{NODE_IP}:{REDIS_PORT}/0
export KUBECANVAS_REGISTRY={REGISTRY}
export KUBECANVAS_NODE_NAME={NODE_NAME}
export KUBECANVAS_NODE_IP={NODE_IP}
export KUBECANVAS_APISERVER_PORT={APISERVER_PORT}
"""
    )


def default_namespace_ready() -> bool:
    return bool(
        api("/api/v1/namespaces/default/serviceaccounts/default")
        and api("/api/v1/namespaces/default/configmaps/kube-root-ca.crt")
    )


def push_infra_images() -> None:
    """The pause and CoreDNS images, which the node needs before its first pod."""
    result = subprocess.run([str(ROOT / "hack" / "images.sh"), "pause", "coredns"], check=False)
    if result.returncode != 0:
        raise ClusterError("hack/images.sh pause coredns failed (its output is above)")


def _clean_slate(parts: dict[str, Component]) -> None:
    """No etcd means no cluster: stop whatever is left and wipe every trace before starting."""
    for component in reversed(parts.values()):
        stop(component)
    node.clear_pods()
    shutil.rmtree(ETCD_DATA, ignore_errors=True)
    shutil.rmtree(NODE_STATE, ignore_errors=True)
    write_files()


def up() -> None:
    began = time.monotonic()
    if os.geteuid() != 0:
        raise ClusterError("the local node needs root (containerd, the kubelet, iptables and the pod bridge)")
    write_files()
    parts = {c.name: c for c in components()}
    for component in parts.values():
        executable = component.argv[0]
        if not (os.path.exists(executable) or shutil.which(executable)):
            raise ClusterError(component.missing)
    if running(parts["etcd"]) is None:
        _clean_slate(parts)
    for component in parts.values():
        if running(component) is not None:
            continue
        if busy := [port for port in component.ports if not port_free(port)]:
            raise ClusterError(
                f"port {busy[0]} needed by {component.name} is in use by another process "
                f"(set {PORT_VARIABLES[busy[0]]} to move it)"
            )
    hostnet.set_sysctls()
    hostnet.ensure_bridge()
    hostnet.ensure_guard()
    node.ensure_cgroup_root()

    def ensure(name: str) -> None:
        record = running(parts[name])
        if record is None:
            start(parts[name])
        else:
            say(f"{name} already running (pid {record.pid})")

    def ready(name: str, timeout: float) -> None:
        wait_for(f"{name} to be healthy", parts[name].healthy, timeout, parts[name])

    for name in ("etcd", "redis", "registry", "kube-apiserver", "containerd"):
        ensure(name)
    for name in ("etcd", "redis", "registry"):
        ready(name, 30)
    push_infra_images()
    ready("kube-apiserver", 90)
    ready("containerd", 30)
    say("kube-apiserver and containerd ready")
    # kube-controller-manager gives up if the API server is not healthy within 10 s: after it.
    for name in ("kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"):
        ensure(name)
    for name in ("kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"):
        ready(name, 60)
    wait_for(f"node {NODE_NAME} Ready", node_ready, 60, parts["kubelet"])
    say(f"node {NODE_NAME} Ready")
    addons.install()
    wait_for(
        "CoreDNS Ready (kubectl -n kube-system describe pods)", addons.coredns_ready, 120, parts["kubelet"]
    )
    wait_for(
        "the default ServiceAccount and kube-root-ca.crt ConfigMap",
        default_namespace_ready,
        60,
        parts["kube-controller-manager"],
    )
    say(f"cluster up in {time.monotonic() - began:.1f}s: source .cluster/env (KUBECONFIG={KUBECONFIG})")


def down() -> None:
    began = time.monotonic()
    parts = {c.name: c for c in components()}
    for name in NODE_PARTS:
        stop(parts[name])
    node.clear_pods()
    for component in reversed(parts.values()):
        stop(component)
    hostnet.remove_chains()
    hostnet.delete_bridge()
    hostnet.restore_sysctls()
    ports = [port for component in parts.values() for port in component.ports]
    deadline = time.monotonic() + 15
    while (busy := [p for p in ports if not port_free(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    if busy:
        raise ClusterError(f"ports still in use after stopping the cluster: {busy}")
    for directory in (ETCD_DATA, NODE_STATE, REDIS_DATA):
        shutil.rmtree(directory, ignore_errors=True)
    say(f"cluster down in {time.monotonic() - began:.1f}s (PKI kept in .cluster/pki; the rest wiped)")


def status() -> int:
    healthy = True
    for component in components():
        record = running(component)
        ok = record is not None and component.healthy()
        healthy = healthy and ok
        state = f"running (pid {record.pid})" if record else "not running"
        print(f"{component.name:24} {state}{'' if ok or not record else ', unhealthy'}")
    if healthy and not (node_ready() and addons.coredns_ready() and default_namespace_ready()):
        print("node not Ready, CoreDNS not Ready, or the default ServiceAccount missing")
        healthy = False
    return 0 if healthy else 1
