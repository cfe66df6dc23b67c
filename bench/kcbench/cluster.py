"""The cluster the benchmark runs on: a `.cluster/` directory made by `hack/cluster.py`.

`make bench` uses the repository's own `.cluster/`; `--cluster-dir` points at another
(a private cluster started from a copy of `hack/cluster.py`, with its own ports).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kcbench.kube import ApiError, KubeClient

__all__ = ["REPO", "Cluster", "read_env"]

REPO = Path(__file__).resolve().parents[2]
KUBECTL = REPO / ".bin" / "kubectl"  # never /usr/bin/kubectl: an unrelated build
HELM = REPO / ".bin" / "helm"


def read_env(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").partition("=")
                env[key] = value
    return env


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Cluster:
    state: Path  # the .cluster directory
    started_here: bool = False

    @property
    def root(self) -> Path:
        return self.state.parent

    @property
    def script(self) -> Path:
        return self.root / "hack" / "cluster.py"

    @property
    def env(self) -> dict[str, str]:
        return read_env(self.state / "env")

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def redis_url(self) -> str:
        return self.env["KUBECANVAS_REDIS_URL"]

    @property
    def nodeagent_log(self) -> Path:
        return self.state / "logs" / "nodeagent.log"

    def _script(self, command: str) -> subprocess.CompletedProcess[str]:
        # The recorded ports (a private cluster's) must be given to status/up/down alike.
        env = {**os.environ, **{k: v for k, v in self.env.items() if k.startswith("KUBECANVAS_")}}
        env.pop("KUBECANVAS_REDIS_URL", None)
        return subprocess.run(
            [sys.executable, str(self.script), command],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.root,
            timeout=300,
            check=False,
        )

    def ensure_up(self) -> None:
        if not self.script.exists():
            raise SystemExit(f"no {self.script}: --cluster-dir must be the .cluster directory of a checkout")
        if self._script("status").returncode == 0:
            say(f"reusing the running cluster in {self.state}")
            return
        say(f"starting the cluster in {self.state} (hack/cluster.py up)")
        result = self._script("up")
        if result.returncode != 0:
            raise SystemExit(f"hack/cluster.py up failed:\n{result.stdout}\n{result.stderr}")
        self.started_here = True

    def down(self) -> None:
        if self.started_here:
            say("stopping the cluster this benchmark started")
            self._script("down")

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 120) -> str:
        result = subprocess.run(
            [str(KUBECTL), *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def install_prerequisites(self) -> None:
        """The CRDs and the task ClusterRole, as `make operator` applies them."""
        self.kubectl("apply", "-f", str(REPO / "crds"))
        role = subprocess.run(
            [
                str(HELM),
                "template",
                "kubecanvas",
                str(REPO / "charts" / "kubecanvas"),
                "--show-only",
                "templates/task-clusterrole.yaml",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        self.kubectl("apply", "-f", "-", input=role)
        self.kubectl("wait", "--for=condition=Established", "crd/workflows.kubecanvas.io", "--timeout=60s")


def create_namespace(api: KubeClient, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    api.request("POST", "/api/v1/namespaces", {"metadata": {"name": name, "labels": {"kcbench": "1"}}})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        account = api.request("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default", ok_missing=True)
        root_ca = api.request(
            "GET", f"/api/v1/namespaces/{name}/configmaps/kube-root-ca.crt", ok_missing=True
        )
        if account is not None and root_ca is not None:
            return name
        time.sleep(0.1)
    raise RuntimeError(f"namespace {name} did not get its default ServiceAccount and root CA")


def delete_namespace(api: KubeClient, name: str) -> None:
    try:
        api.request("DELETE", f"/api/v1/namespaces/{name}", ok_missing=True)
    except ApiError as error:
        say(f"cannot delete namespace {name}: {error}")


def create_config_map(api: KubeClient, namespace: str, name: str, files: dict[str, str]) -> None:
    api.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps",
        {"metadata": {"name": name}, "data": files},
    )


def other_operators(kubeconfig: Path, exclude: set[int]) -> list[str]:
    """kubecanvas operators already driving this cluster: they would run our Workflows too
    (and read our task events), which spoils every figure."""
    found: list[str] = []
    wanted = kubeconfig.resolve()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            if b"kubecanvas-operator" not in command and b"kubecanvas_operator" not in command:
                continue
            environ = (entry / "environ").read_bytes().split(b"\0")
            cwd = (entry / "cwd").resolve()
        except OSError:
            continue
        values = [
            item.split(b"=", 1)[1].decode(errors="replace")
            for item in environ
            if item.startswith(b"KUBECONFIG=")
        ]
        paths = [(cwd / part).resolve() for value in values for part in value.split(":") if part]
        if wanted in paths:
            found.append(f"pid {entry.name}: {command.decode(errors='replace').strip()}")
    return found


def operator_pods(api: KubeClient) -> list[str]:
    listing: dict[str, Any] = api.request(
        "GET", "/api/v1/pods?labelSelector=app.kubernetes.io/component%3Doperator"
    )
    return [
        f"pod {item['metadata']['namespace']}/{item['metadata']['name']}"
        for item in listing.get("items") or []
        if (item.get("status") or {}).get("phase") in ("Pending", "Running")
    ]


def dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
