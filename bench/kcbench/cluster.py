"""The cluster the benchmark runs on: a `.cluster/` directory made by `hack/cluster.py`.

`make bench` uses the repository's own `.cluster/`; `--cluster-dir` points at another
(a private cluster started from a copy of `hack/cluster.py`, with its own ports).
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kcbench.kube import ApiError, KubeClient
from kcbench.node import NodePaths

__all__ = ["REPO", "Cluster", "read_env", "watched_namespaces"]

REPO = Path(__file__).resolve().parents[2]
KUBECTL = REPO / ".bin" / "kubectl"  # never /usr/bin/kubectl: an unrelated build


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
    def images(self) -> dict[str, str]:
        """`.cluster/images.env`: the images `hack/images.sh` (`make images`) pushed."""
        return read_env(self.state / "images.env")

    @property
    def runtime_image(self) -> str:
        """The runtime image of this tree, refused unless the registry has it: `hack/cluster.py
        up` names the tree's tags whether built or not, and a benchmark of 1000 pods that
        cannot pull their image measures nothing (it ended a chord Failed with ErrImagePull)."""
        image = self.images.get("KUBECANVAS_RUNTIME_IMAGE")
        if not image:
            raise SystemExit(
                f"no KUBECANVAS_RUNTIME_IMAGE in {self.state / 'images.env'}: build the images first "
                "(`make images`, or hack/images.sh)"
            )
        if not self.registry_has(image):
            raise SystemExit(
                f"the registry has no {image} (the image of this tree): build it first "
                "(`make bench` does; or `make images`)"
            )
        return image

    def registry_has(self, image: str) -> bool:
        """Whether the local registry serves `image` (any public registry name maps to it)."""
        import urllib.error
        import urllib.request

        name, _, tag = image.rpartition(":")
        repository = name.split("/", 1)[1] if "." in name.split("/", 1)[0] else name
        registry = self.env.get("KUBECANVAS_REGISTRY", "127.0.0.1:15000")
        request = urllib.request.Request(
            f"http://{registry}/v2/{repository}/manifests/{tag}",
            method="HEAD",
            headers={
                "Accept": "application/vnd.oci.image.manifest.v1+json, "
                "application/vnd.docker.distribution.manifest.v2+json, "
                "application/vnd.oci.image.index.v1+json"
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - http:// to our registry
                return True
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return False
            raise

    @property
    def node(self) -> NodePaths:
        return NodePaths.of(self.state)

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
        """The CRDs, as `make operator` applies them."""
        self.kubectl("apply", "-f", str(REPO / "crds"))
        self.kubectl("wait", "--for=condition=Established", "crd/workflows.kubecanvas.io", "--timeout=60s")


def other_pods(api: KubeClient, ours: Callable[[str], bool]) -> int | None:
    """Pods not yet finished outside kube-system and the namespaces `ours` accepts: other work
    sharing the node (the e2e suite's, the chart tests', another benchmark's)."""
    try:
        listing = api.request(
            "GET", "/api/v1/pods?fieldSelector=status.phase!%3DSucceeded,status.phase!%3DFailed"
        )
    except Exception:  # noqa: BLE001 - a count for the record, never worth failing a scenario
        return None
    return sum(
        1
        for item in (listing or {}).get("items") or []
        if item["metadata"]["namespace"] != "kube-system" and not ours(item["metadata"]["namespace"])
    )


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


def watched_namespaces(arguments: list[str], environ: dict[str, str]) -> list[str]:
    """What a kubecanvas operator watches, from its arguments (`-n`/`--namespace`, repeatable)
    or else `KUBECANVAS_WATCH_NAMESPACES`; empty means every namespace."""
    found: list[str] = []
    for index, argument in enumerate(arguments):
        if argument in ("-n", "--namespace") and index + 1 < len(arguments):
            found.append(arguments[index + 1])
        elif argument.startswith("--namespace="):
            found.append(argument.split("=", 1)[1])
    if found:
        return found
    return (environ.get("KUBECANVAS_WATCH_NAMESPACES") or "").replace(",", " ").split()


def _overlaps(watched: list[str], ours: list[str]) -> bool:
    return not watched or any(fnmatch.fnmatchcase(name, pattern) for name in ours for pattern in watched)


def other_operators(kubeconfig: Path, exclude: set[int], ours: list[str]) -> tuple[list[str], list[str]]:
    """kubecanvas operator processes already driving this cluster, as (those that would run
    our Workflows too, since they watch every namespace or one of `ours` (sample names of the
    benchmark's namespaces), and those that watch only other namespaces)."""
    clashing: list[str] = []
    apart: list[str] = []
    wanted = kubeconfig.resolve()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
            if b"kubecanvas-operator" not in raw and b"kubecanvas_operator" not in raw:
                continue
            environ = dict(
                item.decode(errors="replace").split("=", 1)
                for item in (entry / "environ").read_bytes().split(b"\0")
                if b"=" in item
            )
            cwd = (entry / "cwd").resolve()
        except OSError:
            continue
        paths = [(cwd / part).resolve() for part in environ.get("KUBECONFIG", "").split(":") if part]
        if wanted not in paths:
            continue
        arguments = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
        watched = watched_namespaces(arguments, environ)
        line = f"pid {entry.name}: {' '.join(arguments)}"
        (clashing if _overlaps(watched, ours) else apart).append(line)
    return clashing, apart


def operator_pods(api: KubeClient, ours: list[str]) -> tuple[list[str], list[str]]:
    """Operator pods (the chart's) on the cluster, split as `other_operators` does."""
    listing: dict[str, Any] = api.request(
        "GET", "/api/v1/pods?labelSelector=app.kubernetes.io/component%3Doperator"
    )
    clashing: list[str] = []
    apart: list[str] = []
    for item in listing.get("items") or []:
        if (item.get("status") or {}).get("phase") not in ("Pending", "Running"):
            continue
        containers = (item.get("spec") or {}).get("containers") or []
        arguments = [str(a) for c in containers for a in (c.get("command") or []) + (c.get("args") or [])]
        environ = {
            str(e.get("name")): str(e.get("value") or "") for c in containers for e in c.get("env") or []
        }
        watched = watched_namespaces(arguments, environ)
        metadata = item["metadata"]
        line = f"pod {metadata['namespace']}/{metadata['name']} (watches {' '.join(watched) or 'all'})"
        (clashing if _overlaps(watched, ours) else apart).append(line)
    return clashing, apart


def dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
