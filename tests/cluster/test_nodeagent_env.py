"""The environment the node agent gives a container, resolved as the kubelet would."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

from support.cluster import Cluster, container_status
from support.manifests import container, pod
from support.waiting import wait_until


def _phase(cluster: Cluster, name: str, namespace: str) -> str:
    return str(cluster.get("pod", name, namespace)["status"].get("phase", ""))


def _waiting(cluster: Cluster, name: str, namespace: str, reason: str) -> dict[str, str] | None:
    """The container's waiting state if it waits for `reason`."""
    waiting = container_status(cluster.get("pod", name, namespace)).get("state", {}).get("waiting", {})
    return waiting if waiting.get("reason") == reason else None


def _secret(name: str, **data: str) -> dict[str, object]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": encoded}


def _configmap(name: str, **data: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_env_sources_and_expansion(cluster: Cluster, namespace: str) -> None:
    cluster.apply(_secret("creds", password="s3cr3t"), namespace)
    cluster.apply(_configmap("settings", color="blue", size="L"), namespace)
    script = "import json, os; print(json.dumps({k: v for k, v in os.environ.items()})); print(os.getcwd())"
    spec = pod(
        "env",
        container(
            ["python", "-c", script, "$(GREETING)", "$$(GREETING)"],
            workingDir="/tmp",
            env=[
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                {
                    "name": "MEM",
                    "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
                },
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "color"}}},
                {
                    "name": "MAYBE",
                    "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "x", "optional": True}},
                },
                {"name": "GREETING", "value": "hello $(POD_NAME) in $(COLOR), $(UNDEFINED)"},
            ],
            envFrom=[
                {"configMapRef": {"name": "settings"}, "prefix": "CFG_"},
                {"secretRef": {"name": "creds"}},
            ],
            resources={"limits": {"memory": "64Mi"}},
        ),
    )
    spec["metadata"]["labels"] = {"app": "envtest"}
    cluster.apply(spec, namespace)

    wait_until(lambda: _phase(cluster, "env", namespace) == "Succeeded", 30, "pod env to succeed")
    env_line, cwd = cluster.kubectl("logs", "env", "-n", namespace).splitlines()
    import json

    env = json.loads(env_line)
    uid = cluster.get("pod", "env", namespace)["metadata"]["uid"]
    assert env["POD_NAME"] == "env"
    assert env["POD_NAMESPACE"] == namespace
    assert env["POD_UID"] == uid
    assert env["APP"] == "envtest"
    assert env["NODE"] == "kubecanvas-node"
    assert env["POD_IP"] == cluster.env["KUBECANVAS_NODE_IP"]  # the node's address: pods share its network
    assert env["SA"] == "default"
    assert env["MEM"] == "64"
    assert env["PASSWORD"] == "s3cr3t"
    assert env["password"] == "s3cr3t"  # from envFrom secretRef
    assert env["COLOR"] == "blue"
    assert env["CFG_color"] == "blue"
    assert env["CFG_size"] == "L"
    assert "MAYBE" not in env
    assert env["GREETING"] == "hello env in blue, $(UNDEFINED)"
    assert env["HOSTNAME"] == "env"
    assert env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == cluster.env["KUBECANVAS_APISERVER_PORT"]
    assert cwd == "/tmp"


def test_args_are_expanded(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        pod(
            "args",
            container(
                ["python", "-c", "import sys; print(sys.argv[1:])", "$(WHO)", "$$(WHO)", "$(NOBODY)"],
                env=[{"name": "WHO", "value": "world"}],
            ),
        ),
        namespace,
    )
    wait_until(lambda: _phase(cluster, "args", namespace) == "Succeeded", 30, "pod args to succeed")
    assert cluster.kubectl("logs", "args", "-n", namespace) == "['world', '$(WHO)', '$(NOBODY)']\n"


def test_missing_secret_key_waits_then_starts_once_it_exists(cluster: Cluster, namespace: str) -> None:
    cluster.apply(_secret("partial", present="yes"), namespace)
    cluster.apply(
        pod(
            "needs-key",
            container(
                ["python", "-c", "import os; print(os.environ['TOKEN'])"],
                env=[{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "partial", "key": "token"}}}],
            ),
        ),
        namespace,
    )

    # ContainerCreating comes first, as with the kubelet; then the config error.
    waiting = wait_until(
        lambda: _waiting(cluster, "needs-key", namespace, "CreateContainerConfigError"),
        30,
        "the container to wait for its Secret key",
    )
    assert waiting["message"] == f"couldn't find key token in Secret {namespace}/partial"
    assert _phase(cluster, "needs-key", namespace) == "Pending"

    cluster.apply(_secret("partial", present="yes", token="t0k3n"), namespace)
    wait_until(
        lambda: _phase(cluster, "needs-key", namespace) == "Succeeded",
        60,
        "the pod to run once the key exists",
    )
    assert cluster.kubectl("logs", "needs-key", "-n", namespace) == "t0k3n\n"


def test_missing_configmap_is_reported(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        pod(
            "needs-cm",
            container(
                ["true"],
                env=[{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "x"}}}],
            ),
        ),
        namespace,
    )
    waiting = wait_until(
        lambda: _waiting(cluster, "needs-cm", namespace, "CreateContainerConfigError"), 30, "error"
    )
    assert waiting["message"] == 'configmap "absent" not found'


def test_container_without_command_cannot_start(cluster: Cluster, namespace: str) -> None:
    spec = pod("no-command", {"name": "main", "image": "nginx"})
    cluster.apply(spec, namespace)
    waiting = wait_until(
        lambda: _waiting(cluster, "no-command", namespace, "CreateContainerError"), 30, "error"
    )
    assert "no command" in waiting["message"]


def test_missing_executable_is_a_start_error(cluster: Cluster, namespace: str) -> None:
    cluster.apply(pod("no-such", container(["definitely-not-a-program-kc"])), namespace)
    wait_until(lambda: _phase(cluster, "no-such", namespace) == "Failed", 30, "pod no-such to fail")
    terminated = container_status(cluster.get("pod", "no-such", namespace))["state"]["terminated"]
    assert terminated["reason"] == "StartError"
    assert terminated["exitCode"] == 128
    assert "executable file not found" in terminated["message"]


def test_temporary_files_go_with_the_pod(cluster: Cluster, namespace: str) -> None:
    """A container's temporary directory is its own and does not outlive its pod."""
    script = "import tempfile; f = tempfile.NamedTemporaryFile(delete=False); print(f.name)"
    cluster.apply(pod("scratch", container(["python", "-c", script])), namespace)
    wait_until(lambda: _phase(cluster, "scratch", namespace) == "Succeeded", 30, "pod scratch to succeed")
    path = Path(cluster.kubectl("logs", "scratch", "-n", namespace).strip())
    assert path.exists()
    assert path.parent != Path(tempfile.gettempdir()), "the container wrote into the host's shared /tmp"
    cluster.kubectl("delete", "pod", "scratch", "-n", namespace, "--wait=true")
    wait_until(lambda: not path.exists(), 30, "the pod's temporary file to be removed with it")
