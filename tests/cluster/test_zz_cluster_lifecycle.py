"""Restarting parts of the shared cluster: the node agent, then the whole cluster.

This module runs last (its name sorts last) because it restarts what the other tests share; it
leaves the cluster up, as the session fixture expects.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from typing import Any

from support.cluster import STATE, Cluster, cluster_command, container_status, pid_alive, processes_of_pod
from support.manifests import container, pod
from support.waiting import wait_until

COMPONENTS = ("etcd", "redis", "kube-apiserver", "kube-controller-manager", "nodeagent")


def _pid(component: str) -> int:
    return int(json.loads((STATE / "pids" / f"{component}.pid").read_text())["pid"])


def _container_pid(status: dict[str, Any]) -> int:
    return int(status["containerID"].removeprefix("nodeagent://"))


def _stop_agent(sig: signal.Signals) -> None:
    agent = _pid("nodeagent")
    os.kill(agent, sig)
    wait_until(lambda: not pid_alive(agent), 30, f"the node agent (pid {agent}) to exit after {sig.name}")


def _running(cluster: Cluster, name: str, namespace: str) -> dict[str, Any]:
    current = cluster.get("pod", name, namespace)
    state = container_status(current).get("state", {})
    return current if "running" in state else {}


def test_up_twice_restarts_nothing(cluster: Cluster) -> None:
    before = {name: _pid(name) for name in COMPONENTS}

    result = cluster_command("up")

    assert {name: _pid(name) for name in COMPONENTS} == before
    assert result.stdout.count("already running") == len(COMPONENTS)


def test_agent_crash_is_reported_truthfully(cluster: Cluster, namespace: str) -> None:
    cluster.apply(pod("once", container(["sleep", "300"])), namespace)
    cluster.apply(pod("forever", container(["sleep", "300"]), restart_policy="Always"), namespace)
    once = container_status(wait_until(lambda: _running(cluster, "once", namespace), 30, "pod once to run"))
    forever = container_status(
        wait_until(lambda: _running(cluster, "forever", namespace), 30, "pod forever to run")
    )

    _stop_agent(signal.SIGKILL)  # a crash: the agent gets no chance to clean up
    assert pid_alive(_container_pid(once)), "without the agent, the container process keeps running"
    cluster_command("up")

    failed = wait_until(
        lambda: (p := cluster.get("pod", "once", namespace))["status"]["phase"] == "Failed" and p,
        30,
        "once Failed",
    )
    terminated = container_status(failed)["state"]["terminated"]
    assert terminated["reason"] == "NodeAgentRestarted"
    assert "restarted" in terminated["message"]
    assert not pid_alive(_container_pid(once))

    restarted = container_status(
        wait_until(
            lambda: (
                container_status(cluster.get("pod", "forever", namespace)).get("restartCount") == 1
                and _running(cluster, "forever", namespace)
            ),
            30,
            "pod forever to run again",
        )
    )
    assert restarted["lastState"]["terminated"]["reason"] == "NodeAgentRestarted"
    assert restarted["containerID"] != forever["containerID"]
    assert not pid_alive(_container_pid(forever))


def test_agent_stop_ends_every_pod_process(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        pod("survivor", container(["sh", "-c", "sleep 300 & wait"]), restart_policy="Always"), namespace
    )
    wait_until(lambda: _running(cluster, "survivor", namespace), 30, "pod survivor to run")
    assert processes_of_pod("survivor")

    _stop_agent(signal.SIGTERM)

    assert not processes_of_pod("survivor")
    cluster_command("up")
    wait_until(
        lambda: (
            container_status(cluster.get("pod", "survivor", namespace)).get("restartCount") == 1
            and _running(cluster, "survivor", namespace)
        ),
        30,
        "pod survivor to run again after the agent came back",
    )


def _port_free(port: int) -> bool:
    """Free on every address (the node agent listens on the node's IP, not loopback)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def test_down_then_up_leaves_nothing_behind(cluster: Cluster, namespace: str) -> None:
    cluster.apply(pod("leftover", container(["sleep", "300"])), namespace)
    wait_until(lambda: _running(cluster, "leftover", namespace), 30, "pod leftover to run")
    pids = {name: _pid(name) for name in COMPONENTS}
    ports = [int(cluster.env[f"KUBECANVAS_{name}_PORT"]) for name in
             ("APISERVER", "ETCD", "ETCD_PEER", "KCM", "NODEAGENT", "REDIS")]  # fmt: skip

    cluster_command("down")

    assert not [name for name, pid in pids.items() if pid_alive(pid)]
    assert not processes_of_pod("leftover")
    assert [port for port in ports if not _port_free(port)] == []
    assert not list((STATE / "pids").glob("*.pid"))

    cluster_command("up")

    assert cluster_command("status", check=False).returncode == 0
    assert "leftover" not in cluster.kubectl("get", "pods", "-A"), "etcd state must not survive down"
