"""Restarting parts of the shared cluster: the kubelet, then the whole cluster.

This module runs last (its name sorts last) because it restarts what the other tests share; it
leaves the cluster up, as the session fixture expects.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

from support.cluster import STATE, Cluster, cluster_command, container_status, pid_alive, processes_of_pod
from support.manifests import container, pod
from support.waiting import wait_until

COMPONENTS = (
    "etcd", "redis", "registry", "kube-apiserver", "containerd",
    "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy",
)  # fmt: skip
BRIDGE = "kubecanvas0"
CGROUP_ROOT = "kubecanvas"


def _pid(component: str) -> int:
    return int(json.loads((STATE / "pids" / f"{component}.pid").read_text())["pid"])


def _running(cluster: Cluster, name: str, namespace: str) -> dict[str, Any]:
    current = cluster.get("pod", name, namespace)
    state = container_status(current).get("state", {})
    return current if "running" in state else {}


def _iptables_chains_of_the_cluster() -> list[str]:
    found = []
    for tool in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            listing = subprocess.run(
                [tool, "-w", "-t", table, "-S"], capture_output=True, text=True, check=False
            )
            found += [
                f"{tool}/{table}/{line.split()[1]}"
                for line in listing.stdout.splitlines()
                if line.startswith("-N ") and line.split()[1].startswith(("KUBE-", "KUBECANVAS-"))
            ]
    return found


def _mounts_under(path: Path) -> list[str]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line.split()[4] for line in lines if line.split()[4].startswith(str(path))]


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def test_up_twice_restarts_nothing(cluster: Cluster) -> None:
    before = {name: _pid(name) for name in COMPONENTS}

    result = cluster_command("up")

    assert {name: _pid(name) for name in COMPONENTS} == before
    assert result.stdout.count("already running") == len(COMPONENTS)


def test_pods_keep_running_while_the_kubelet_restarts(cluster: Cluster, namespace: str) -> None:
    cluster.apply(pod("steady", container(["sleep", "300"])), namespace)
    before = container_status(
        wait_until(lambda: _running(cluster, "steady", namespace), 60, "pod steady to run")
    )
    [process] = processes_of_pod("steady")

    kubelet = _pid("kubelet")
    os.kill(kubelet, signal.SIGKILL)  # a crash: no chance to clean up
    wait_until(lambda: not pid_alive(kubelet), 30, "the kubelet to exit")
    assert pid_alive(process), "containers outlive their kubelet"
    cluster_command("up")

    after = container_status(
        wait_until(lambda: _running(cluster, "steady", namespace), 60, "pod steady Running")
    )
    assert after["containerID"] == before["containerID"]
    assert after["restartCount"] == 0
    assert processes_of_pod("steady") == [process]


def test_down_then_up_leaves_nothing_behind(cluster: Cluster, namespace: str) -> None:
    cluster.apply(pod("leftover", container(["sleep", "300"])), namespace)
    wait_until(lambda: _running(cluster, "leftover", namespace), 60, "pod leftover to run")
    pids = {name: _pid(name) for name in COMPONENTS}
    ports = [int(cluster.env[f"KUBECANVAS_{name}_PORT"]) for name in ("APISERVER",)]
    # What `up` found on the host before it changed the sysctls, which `down` must put back.
    sysctls_before = json.loads((STATE / "host.json").read_text())

    cluster_command("down")

    assert not [name for name, pid in pids.items() if pid_alive(pid)]
    assert not processes_of_pod("leftover")
    assert [port for port in ports if not _port_free(port)] == []
    assert not list((STATE / "pids").glob("*.pid"))
    assert not Path(f"/sys/class/net/{BRIDGE}").exists(), "the pod bridge must go"
    assert _iptables_chains_of_the_cluster() == []
    assert _mounts_under(STATE) == []
    assert not [h.name for h in Path("/sys/fs/cgroup").iterdir() if (h / CGROUP_ROOT).exists()]
    assert not list(Path("/run/netns").glob("cni-*"))
    assert {name: (Path("/proc/sys") / name).read_text().strip() for name in sysctls_before} == sysctls_before

    cluster_command("up")

    assert cluster_command("status", check=False).returncode == 0
    assert "leftover" not in cluster.kubectl("get", "pods", "-A"), "etcd state must not survive down"
