"""Pod lifecycle as the node agent runs it: probes, restarts, scheduling, init containers."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from support.cluster import Cluster, container_status
from support.manifests import container, pod
from support.waiting import wait_until


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _condition(obj: dict[str, Any], kind: str) -> str | None:
    for condition in obj.get("status", {}).get("conditions", []):
        if condition["type"] == kind:
            return str(condition["status"])
    return None


def test_http_readiness_probe_drives_ready(cluster: Cluster, namespace: str) -> None:
    port = _free_port()
    # The server comes up seconds after the container starts: not Ready until the probe passes.
    # Probes go to the pod's IP, as a kubelet's do: a server listens on every address.
    server = ["sh", "-c", f"sleep 3; exec python -m http.server {port} --bind 0.0.0.0"]
    probe = {"httpGet": {"path": "/", "port": "web"}, "periodSeconds": 1}
    ports = [{"name": "web", "containerPort": port}]
    cluster.apply(pod("web", container(server, ports=ports, readinessProbe=probe)), namespace)

    running = wait_until(
        lambda: (p := cluster.get("pod", "web", namespace))["status"].get("phase") == "Running" and p,
        30,
        "Running",
    )
    assert _condition(running, "Ready") == "False"
    assert container_status(running)["ready"] is False
    ready = wait_until(
        lambda: _condition(p := cluster.get("pod", "web", namespace), "Ready") == "True" and p, 30, "Ready"
    )
    assert container_status(ready)["ready"] is True


def test_exec_readiness_probe_follows_the_container(cluster: Cluster, namespace: str) -> None:
    flag = f"/tmp/kubecanvas-ready-{namespace}"
    spec = pod(
        "flip",
        container(
            ["sh", "-c", f"touch {flag}; sleep 5; rm {flag}; sleep 60"],
            readinessProbe={"exec": {"command": ["test", "-f", flag]}, "periodSeconds": 1},
        ),
    )
    cluster.apply(spec, namespace)

    wait_until(lambda: _condition(cluster.get("pod", "flip", namespace), "Ready") == "True", 30, "Ready")
    wait_until(
        lambda: _condition(cluster.get("pod", "flip", namespace), "Ready") == "False", 30, "not Ready again"
    )


def test_deployment_becomes_available(cluster: Cluster, namespace: str) -> None:
    port = _free_port()
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        container(
                            ["python", "-m", "http.server", str(port), "--bind", "0.0.0.0"],
                            readinessProbe={"tcpSocket": {"port": port}, "periodSeconds": 1},
                        )
                    ]
                },
            },
        },
    }
    cluster.apply(deployment, namespace)
    cluster.kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s")


def test_on_failure_restarts_and_counts(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    # Fails twice, then succeeds; the count lives in a host directory mounted into the pod.
    script = (
        "n=$(cat /counter/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /counter/n; echo run $n; [ $n = 3 ]"
    )
    spec = pod(
        "flaky",
        container(["sh", "-c", script], volumeMounts=[{"name": "counter", "mountPath": "/counter"}]),
        restart_policy="OnFailure",
        volumes=[{"name": "counter", "hostPath": {"path": str(tmp_path)}}],
    )
    cluster.apply(spec, namespace)

    done = wait_until(
        lambda: (p := cluster.get("pod", "flaky", namespace))["status"].get("phase") == "Succeeded" and p,
        60,
        "pod flaky to succeed after restarts",
    )
    status = container_status(done)
    assert status["restartCount"] == 2
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert status["state"]["terminated"]["exitCode"] == 0
    assert cluster.kubectl("logs", "flaky", "-n", namespace) == "run 3\n"
    assert cluster.kubectl("logs", "flaky", "-n", namespace, "--previous") == "run 2\n"


def test_liveness_failure_restarts_the_container(cluster: Cluster, namespace: str) -> None:
    spec = pod(
        "unlively",
        container(
            ["sleep", "60"],
            livenessProbe={"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1},
        ),
        restart_policy="Always",
        terminationGracePeriodSeconds=1,
    )
    cluster.apply(spec, namespace)
    restarted = wait_until(
        lambda: (
            container_status(p := cluster.get("pod", "unlively", namespace)).get("restartCount", 0) >= 1 and p
        ),
        30,
        "a restart after the liveness probe failed",
    )
    last = container_status(restarted)["lastState"]["terminated"]
    assert last["exitCode"] == 143  # SIGTERM
    assert "Liveness probe failed" in last["message"]


def test_init_containers_run_in_order_before_the_containers(cluster: Cluster, namespace: str) -> None:
    spec = pod(
        "ordered",
        container(["python", "-c", "print('main')"]),
        initContainers=[container(["python", "-c", f"print('init {i}')"], name=f"init{i}") for i in (1, 2)],
    )
    cluster.apply(spec, namespace)
    done = wait_until(
        lambda: (p := cluster.get("pod", "ordered", namespace))["status"].get("phase") == "Succeeded" and p,
        30,
        "done",
    )
    inits = done["status"]["initContainerStatuses"]
    assert [s["state"]["terminated"]["exitCode"] for s in inits] == [0, 0]
    assert inits[0]["state"]["terminated"]["finishedAt"] <= inits[1]["state"]["terminated"]["startedAt"]
    assert cluster.kubectl("logs", "ordered", "-c", "init2", "-n", namespace) == "init 2\n"


def test_failing_init_container_fails_a_never_pod(cluster: Cluster, namespace: str) -> None:
    spec = pod(
        "bad-init",
        container(["python", "-c", "print('never runs')"]),
        initContainers=[container(["python", "-c", "raise SystemExit(4)"], name="init")],
    )
    cluster.apply(spec, namespace)
    failed = wait_until(
        lambda: (p := cluster.get("pod", "bad-init", namespace))["status"].get("phase") == "Failed" and p,
        30,
        "Failed",
    )
    assert failed["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 4
    assert "running" not in container_status(failed)["state"]
    assert "terminated" not in container_status(failed)["state"]


def test_node_selector_mismatch_stays_pending(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        pod("elsewhere", container(["true"]), nodeSelector={"kubecanvas.dev/absent": "yes"}), namespace
    )

    def scheduled_condition() -> dict[str, Any] | None:
        conditions = cluster.get("pod", "elsewhere", namespace)["status"].get("conditions", [])
        return next((c for c in conditions if c["type"] == "PodScheduled" and c["status"] == "False"), None)

    condition = wait_until(scheduled_condition, 30, "PodScheduled=False")
    assert condition["reason"] == "Unschedulable"
    assert "didn't match Pod's node affinity/selector" in condition["message"]
    assert cluster.get("pod", "elsewhere", namespace)["status"]["phase"] == "Pending"
