"""Volumes appear at their mountPaths inside the container, and in-cluster clients just work."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

from support.cluster import Cluster
from support.manifests import container, pod
from support.waiting import wait_until


def _succeeded(cluster: Cluster, name: str, namespace: str) -> bool:
    phase = cluster.get("pod", name, namespace)["status"].get("phase")
    assert phase != "Failed", cluster.kubectl("logs", name, "-n", namespace, "--all-containers", check=False)
    return phase == "Succeeded"


REPORT = """
import json, os, stat, sys
root = sys.argv[1]
def mode(p): return oct(stat.S_IMODE(os.stat(p).st_mode))
try:
    open(os.path.join(root, 'config', 'probe'), 'w')
    config_writable = True
except OSError:
    config_writable = False
print(json.dumps({
    'data': open(os.path.join(root, 'data', 'hello')).read(),
    'config': sorted(os.listdir(os.path.join(root, 'config'))),
    'renamed': open(os.path.join(root, 'config', 'sub', 'renamed.txt')).read(),
    'renamed_mode': mode(os.path.join(root, 'config', 'sub', 'renamed.txt')),
    'secret': open(os.path.join(root, 'secret', 'key')).read(),
    'secret_mode': mode(os.path.join(root, 'secret', 'key')),
    'config_writable': config_writable,
}))
"""


def test_emptydir_configmap_and_secret_volumes(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "files"},
            "data": {"a": "A", "b": "B"},
        },
        namespace,
    )
    cluster.kubectl("create", "secret", "generic", "keys", "-n", namespace, "--from-literal=key=K3Y")
    root = f"/tmp/kubecanvas-test-{uuid.uuid4().hex[:8]}"
    items = [{"key": "a", "path": "sub/renamed.txt"}]
    mounts = [
        {"name": "data", "mountPath": f"{root}/data"},
        {"name": "config", "mountPath": f"{root}/config"},
        {"name": "secret", "mountPath": f"{root}/secret"},
    ]
    spec = pod(
        "volumes",
        container(["python", "-c", REPORT, root], volumeMounts=mounts),
        initContainers=[
            container(
                ["sh", "-c", f"printf from-init > {root}/data/hello"],
                name="init",
                volumeMounts=[{"name": "data", "mountPath": f"{root}/data"}],
            )
        ],
        volumes=[
            {"name": "data", "emptyDir": {}},
            {"name": "config", "configMap": {"name": "files", "items": items, "defaultMode": 0o600}},
            {"name": "secret", "secret": {"secretName": "keys", "defaultMode": 0o400}},
        ],
    )  # fmt: skip
    cluster.apply(spec, namespace)

    try:
        wait_until(lambda: _succeeded(cluster, "volumes", namespace), 30, "pod volumes to succeed")
        report = json.loads(cluster.kubectl("logs", "volumes", "-n", namespace))
        # The mounts lived in the container's own mount namespace: the host sees empty mountpoints.
        assert not list(Path(root, "config").iterdir())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert report == {
        "data": "from-init",
        "config": ["sub"],  # only the listed item, at its path
        "renamed": "A",
        "renamed_mode": "0o600",
        "secret": "K3Y",
        "secret_mode": "0o400",
        "config_writable": False,  # configMap volumes are read-only
    }


def test_in_cluster_service_account_works(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl(
        "create", "rolebinding", "default-view", "-n", namespace,
        "--clusterrole=view", f"--serviceaccount={namespace}:default",
    )  # fmt: skip
    python_client = (
        "from kubernetes import client, config; config.load_incluster_config(); "
        "ns = open('/var/run/secrets/kubernetes.io/serviceaccount/namespace').read(); "
        "print(client.CoreV1Api().read_namespaced_config_map('kube-root-ca.crt', ns).metadata.name)"
    )
    spec = pod(
        "incluster",
        container(["kubectl", "get", "configmap", "kube-root-ca.crt", "-o", "name"], name="kubectl"),
        container(["python", "-c", python_client], name="python"),
    )
    cluster.apply(spec, namespace)

    wait_until(lambda: _succeeded(cluster, "incluster", namespace), 60, "pod incluster to succeed")
    assert (
        cluster.kubectl("logs", "incluster", "-c", "kubectl", "-n", namespace)
        == "configmap/kube-root-ca.crt\n"
    )
    assert cluster.kubectl("logs", "incluster", "-c", "python", "-n", namespace) == "kube-root-ca.crt\n"
