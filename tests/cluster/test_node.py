"""What a real node gives pods that users rely on: versions, addresses, DNS, Services, memory
limits, volumes, and a network that ends at the machine."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

from support.cluster import Cluster, container_status, pinned
from support.manifests import container, pod
from support.waiting import wait_until


def _finished(cluster: Cluster, name: str, namespace: str) -> dict:
    return wait_until(
        lambda: (
            (p := cluster.get("pod", name, namespace))["status"].get("phase") in ("Succeeded", "Failed") and p
        ),
        90,
        f"pod {name} to finish",
    )


def _run(cluster: Cluster, namespace: str, name: str, script: str, **spec: object) -> tuple[str, str]:
    """Run a Python script in a pod of the base image; its phase and its output."""
    cluster.apply(pod(name, container(["python3", "-c", textwrap.dedent(script)]), **spec), namespace)
    finished = _finished(cluster, name, namespace)
    return finished["status"]["phase"], cluster.kubectl("logs", name, "-n", namespace)


def test_the_node_runs_the_pinned_kubelet_on_containerd(cluster: Cluster) -> None:
    [node] = json.loads(cluster.kubectl("get", "nodes", "-o", "json"))["items"]
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == pinned("K8S_VERSION")
    assert info["kubeProxyVersion"] in ("", pinned("K8S_VERSION"))
    assert info["containerRuntimeVersion"].startswith("containerd://")


def test_a_pod_gets_an_address_on_the_bridge_and_no_route_off_the_machine(
    cluster: Cluster, namespace: str
) -> None:
    phase, out = _run(
        cluster,
        namespace,
        "routes",
        """
        import json
        rows = [line.split() for line in open("/proc/net/route").read().splitlines()[1:]]
        print(json.dumps(sorted(row[1] for row in rows)))
        """,
    )
    assert phase == "Succeeded", out
    destinations = json.loads(out)
    assert "00000000" not in destinations, "a pod must have no default route"
    ip = cluster.get("pod", "routes", namespace)["status"]["podIP"]
    assert ip.startswith("10.244.0."), ip


def test_the_bridge_keeps_its_mac_while_pods_come_and_go(cluster: Cluster, namespace: str) -> None:
    """A bridge left with a kernel-chosen MAC takes its lowest port's, so it changed with every pod,
    and pods that had the old one cached lost the node (Redis, the API) for up to ~45 s: task
    pods exited 75 under churn. Its MAC is set (addr_assign_type 3) and stays."""
    bridge = Path("/sys/class/net/kubecanvas0")
    assert (bridge / "addr_assign_type").read_text().strip() == "3"
    before = (bridge / "address").read_text().strip()
    seen = {before}
    for index in range(3):
        cluster.apply(pod(f"churn-{index}", container(["true"])), namespace)
    for _ in range(40):
        seen.add((bridge / "address").read_text().strip())
        time.sleep(0.25)
    assert seen == {before}


def test_cluster_dns_resolves_services(cluster: Cluster, namespace: str) -> None:
    phase, out = _run(
        cluster,
        namespace,
        "resolve",
        """
        import socket
        print(socket.gethostbyname("kubernetes.default.svc.cluster.local"))
        print(socket.gethostbyname("kube-dns.kube-system"))
        """,
    )
    assert phase == "Succeeded", out
    assert out.split() == ["10.96.0.1", "10.96.0.10"]


def test_a_service_reaches_its_pod_by_name(cluster: Cluster, namespace: str) -> None:
    server = pod(
        "web",
        container(
            ["python3", "-m", "http.server", "8000", "--directory", "/etc"], ports=[{"containerPort": 8000}]
        ),
        restart_policy="Always",
    )
    server["metadata"]["labels"] = {"app": "web"}
    cluster.apply(server, namespace)
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8000}]},
        },
        namespace,
    )
    phase, out = _run(
        cluster,
        namespace,
        "client",
        f"""
        import time, urllib.request
        url = "http://web.{namespace}.svc.cluster.local/hostname"
        for attempt in range(60):
            try:
                print(urllib.request.urlopen(url, timeout=2).read().decode().strip())
                break
            except OSError:
                time.sleep(0.5)
        """,
    )
    assert phase == "Succeeded", out
    assert out.strip() == "web"  # /etc/hostname of the server pod, through the Service


def test_a_pod_over_its_memory_limit_is_oom_killed(cluster: Cluster, namespace: str) -> None:
    hog = container(
        ["python3", "-c", "x = bytearray(200 * 1024 * 1024); print(len(x))"],
        resources={"limits": {"memory": "40Mi"}},
    )
    cluster.apply(pod("hog", hog), namespace)
    finished = _finished(cluster, "hog", namespace)
    terminated = container_status(finished)["state"]["terminated"]
    assert (finished["status"]["phase"], terminated["reason"], terminated["exitCode"]) == (
        "Failed",
        "OOMKilled",
        137,
    )


def test_a_claim_of_the_default_storage_class_binds_and_keeps_data(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
        namespace,
    )
    volume = {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}
    mount = {"volumeMounts": [{"name": "data", "mountPath": "/data"}]}
    as_user = {"securityContext": {"runAsUser": 999, "runAsNonRoot": True}}
    writer = pod("writer", container(["sh", "-c", "echo kept > /data/file"], **mount), **volume, **as_user)
    cluster.apply(writer, namespace)
    assert _finished(cluster, "writer", namespace)["status"]["phase"] == "Succeeded"
    reader = pod("reader", container(["cat", "/data/file"], **mount), **volume, **as_user)
    cluster.apply(reader, namespace)
    assert _finished(cluster, "reader", namespace)["status"]["phase"] == "Succeeded"
    assert cluster.kubectl("logs", "reader", "-n", namespace) == "kept\n"
    claim = cluster.get("pvc", "data", namespace)
    assert claim["status"]["phase"] == "Bound"
    assert claim["spec"]["storageClassName"] == "standard"
