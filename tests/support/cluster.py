"""The local cluster as tests see it: paths, a kubectl helper, an API client, process checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPT = ROOT / "hack" / "cluster.py"
STATE = ROOT / ".cluster"
KUBECTL = ROOT / ".bin" / "kubectl"  # never /usr/bin/kubectl: a different build


def cluster_command(command: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `hack/cluster.py COMMAND` with the project's python."""
    return subprocess.run(
        [sys.executable, str(CLUSTER_SCRIPT), command],
        capture_output=True,
        text=True,
        check=check,
        timeout=300,
    )


def pinned(name: str) -> str:
    """A version pinned in hack/versions.env."""
    for line in (ROOT / "hack" / "versions.env").read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.partition("=")[2].strip()
    raise AssertionError(f"{name} not pinned in hack/versions.env")


def build_images() -> None:
    """`hack/images.sh`: the project's images in the cluster's registry (seconds when cached)."""
    result = subprocess.run(
        [str(ROOT / "hack" / "images.sh")], capture_output=True, text=True, check=False, timeout=1800
    )
    if result.returncode != 0:
        raise AssertionError(f"hack/images.sh failed:\n{result.stdout}\n{result.stderr}")


def read_env() -> dict[str, str]:
    """The variables `.cluster/env` (the cluster) and `.cluster/images.env` (the images) export."""
    env = {}
    for name in ("env", "images.env"):
        for line in (STATE / name).read_text().splitlines():
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").partition("=")
                env[key] = value
    return env


@dataclass
class Cluster:
    root: Path
    kubeconfig: Path
    redis_url: str
    env: dict[str, str]
    api: Any = field(repr=False)
    """A `kubernetes.client.ApiClient` for the admin user."""

    def kubectl(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120) -> str:
        """Run .bin/kubectl against the cluster and return its stdout (stderr too on failure)."""
        result = subprocess.run(
            [str(KUBECTL), *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result.stdout if check else result.stdout + result.stderr

    def apply(self, manifest: dict[str, Any], namespace: str) -> None:
        self.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any]:
        return json.loads(self.kubectl("get", kind, name, "-n", namespace, "-o", "json"))


def preload_images(cluster: Cluster) -> None:
    """Pull the project's images onto the node once, before any test, with a pod that uses them.

    A fresh build has new tags: the first fan-out of a session would otherwise have dozens of
    pods pull the same image at once, past the kubelet's pull QPS limit (5/s), and back off
    ("pull QPS exceeded") longer than the e2e operator's short start timeout. A real node
    meets that only on a new image's first use; the tests measure what comes after."""
    images = {
        "runtime": cluster.env["KUBECANVAS_RUNTIME_IMAGE"],
        "operator": cluster.env["KUBECANVAS_OPERATOR_IMAGE"],
    }
    name = "kubecanvas-preload"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "containers": [
                {"name": key, "image": image, "command": ["python3", "-c", "pass"]}
                for key, image in images.items()
            ],
        },
    }
    cluster.kubectl("delete", "pod", name, "-n", "default", "--ignore-not-found", "--wait")
    cluster.apply(pod, "default")
    try:
        phase = ""
        deadline = time.monotonic() + 300
        while phase not in ("Succeeded", "Failed") and time.monotonic() < deadline:
            time.sleep(0.5)
            phase = cluster.get("pod", name, "default").get("status", {}).get("phase", "")
        if phase != "Succeeded":
            status = cluster.get("pod", name, "default").get("status")
            raise AssertionError(f"the preload pod ended {phase or 'nowhere in 300 s'}: {status}")
    finally:
        cluster.kubectl("delete", "pod", name, "-n", "default", "--ignore-not-found", "--wait=false")


def processes_of_pod(pod_name: str) -> list[int]:
    """Pids of live processes that run for a pod (the node agent sets HOSTNAME to the pod name)."""
    marker = f"HOSTNAME={pod_name}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def pods_of_job(cluster: Cluster, job: str, namespace: str) -> list[dict[str, Any]]:
    listing = json.loads(
        cluster.kubectl("get", "pods", "-n", namespace, "-l", f"job-name={job}", "-o", "json")
    )
    return list(listing["items"])


def job_condition(cluster: Cluster, job: str, namespace: str, kind: str) -> dict[str, Any] | None:
    """The Job's condition of that type if it is True, else None."""
    conditions = cluster.get("job", job, namespace).get("status", {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == kind and c["status"] == "True"), None)


def container_status(pod: dict[str, Any], index: int = 0) -> dict[str, Any]:
    statuses = pod.get("status", {}).get("containerStatuses", [])
    return statuses[index] if len(statuses) > index else {}
