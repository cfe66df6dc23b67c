"""Argo Workflows on the same cluster, side by side with kubecanvas: the same hop chain, fan-out and
chord, each step a no-op pod of the project's runtime image.

Argo (v4.0.5, hack/versions.env) is built by `hack/images.sh argo` (hack/build-tools.sh argo) and
installed here for the run only, in two variants, each a namespace-scoped controller in an
`argo-<variant>-*` namespace of its own that also holds its workflows, deleted afterwards:

- `argo`: Argo's defaults;
- `argo_tuned`: DEFAULT_REQUEUE_TIME=1s (the workflow queue's fixed requeue delay, 10 s by default;
  1 s is what Argo's own e2e tests use and the floor its source comments recommend) and
  INFORMER_WRITE_BACK=true (write the updated workflow back to the informer instead of sleeping 1 s
  after every workflow update, v4's default). Both are documented environment variables.

The CRDs are the module's minimal ones (manifests/base/crds/minimal: schema-less spec and status),
applied from hack/tools/argo/src, the copy of the module whose hash hack/build-tools.sh checked,
so they are exactly those of the controller that runs, and the repository carries no copy of
~1 MB of generated YAML. They are deleted at the end unless they were there before.

Times: a step's main container started and finished come from containerd's CRI records
(nanoseconds, read while the pods still exist: Argo leaves them until the namespace goes); the
workflow's total is from just before its creation to the first poll (every 0.2 s) that sees it
finished.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kcbench.analysis import distribution
from kcbench.cluster import REPO, Cluster, create_namespace, delete_namespace, other_pods, say
from kcbench.kube import KubeClient
from kcbench.node import cri_container
from kcbench.procs import load_average

__all__ = ["VARIANTS", "ArgoInstall", "chain", "chord", "fanout"]

CONTROLLER = REPO / "bench" / "argo" / "controller.yaml"
CRDS = REPO / "hack" / "tools" / "argo" / "src" / "manifests" / "base" / "crds" / "minimal"
WORKFLOWS = "/apis/argoproj.io/v1alpha1/namespaces/{namespace}/workflows"
# The controller's environment per variant, on top of upstream's Deployment.
VARIANTS: dict[str, dict[str, str]] = {
    "argo": {},
    "argo_tuned": {"DEFAULT_REQUEUE_TIME": "1s", "INFORMER_WRITE_BACK": "true"},
}
# Each variant's namespace is `<this>-<random>` (argo-*: no kubecanvas operator watches those).
NAMESPACES = {"argo": "argo-default", "argo_tuned": "argo-tuned"}
DONE = ("Succeeded", "Failed", "Error")


def crds_present(api: KubeClient) -> bool:
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/workflows.argoproj.io"
    return api.request("GET", path, ok_missing=True) is not None


def install_crds(cluster: Cluster) -> None:
    """Server-side apply: the largest minimal CRD is near client-side apply's 256 KiB annotation limit."""
    if not (CRDS / "argoproj.io_workflows.yaml").exists():
        raise SystemExit(f"no {CRDS}: build Argo first (hack/images.sh argo, which `make bench` runs)")
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-k", str(CRDS))
    cluster.kubectl("wait", "--for=condition=Established", "crd/workflows.argoproj.io", "--timeout=60s")


def delete_crds(cluster: Cluster) -> None:
    cluster.kubectl("delete", "--ignore-not-found", "--wait=false", "-k", str(CRDS))


def render_controller(namespace: str, env: dict[str, str]) -> str:
    """controller.yaml for `namespace`, with the variant's environment appended to the container's."""
    text = CONTROLLER.read_text().replace("NAMESPACE", namespace)
    extra = "".join(
        f"            - name: {key}\n              value: {json.dumps(value)}\n" for key, value in env.items()
    )
    marker = "                  fieldPath: metadata.name\n"
    if marker not in text:
        raise RuntimeError(f"{CONTROLLER}: no env list to extend")
    return text.replace(marker, marker + extra, 1)


@dataclass
class ArgoInstall:
    """One variant's controller in a namespace of its own, where its workflows run too."""

    cluster: Cluster
    api: KubeClient
    variant: str
    runtime_image: str
    keep: bool = False
    namespace: str = ""

    def __enter__(self) -> ArgoInstall:
        env = VARIANTS[self.variant]
        self.namespace = create_namespace(self.api, NAMESPACES[self.variant])
        try:
            self.cluster.kubectl(
                "apply", "-n", self.namespace, "-f", "-", input=render_controller(self.namespace, env)
            )
            self.cluster.kubectl(
                "-n", self.namespace, "rollout", "status", "deployment/workflow-controller", "--timeout=180s"
            )
        except BaseException:
            self.__exit__(None, None, None)
            raise
        say(f"{self.variant}: workflow-controller ready in {self.namespace} (env {env or 'as upstream'})")
        return self

    def __exit__(self, *exc: object) -> None:
        """Delete the namespace and wait (up to 5 min) until it is gone: its hundreds of finished
        pods being torn down would otherwise share the node with whatever runs next."""
        if self.keep or not self.namespace:
            return
        delete_namespace(self.api, self.namespace)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.api.request("GET", f"/api/v1/namespaces/{self.namespace}", ok_missing=True) is None:
                return
            time.sleep(1)
        say(f"{self.variant}: namespace {self.namespace} still terminating after 5 min")

    def controller_log(self, path: Path) -> None:
        try:
            path.write_text(
                self.cluster.kubectl(
                    "-n", self.namespace, "logs", "deployment/workflow-controller", timeout=60
                )
            )
        except RuntimeError as error:
            say(f"{self.variant}: no controller log: {error}")

    def run(self, name: str, spec: dict[str, Any], timeout: float) -> tuple[dict[str, Any], float]:
        """Create the workflow and wait for it to finish: (its last state, seconds from creation to done)."""
        body = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": name},
            "spec": {"serviceAccountName": "default", **spec},
        }
        path = WORKFLOWS.format(namespace=self.namespace)
        submitted = time.time()
        self.api.request("POST", path, body)
        deadline = time.monotonic() + timeout
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = self.api.request("GET", f"{path}/{name}")
            if (state.get("status") or {}).get("phase") in DONE:
                return state, time.time() - submitted
            time.sleep(0.2)
        raise TimeoutError(
            f"{self.variant} {name}: not done in {timeout:.0f}s: {(state.get('status') or {}).get('phase')}"
        )

    def main_containers(self, workflow: str) -> list[dict[str, Any]]:
        """Each step pod's main container, with containerd's times of it (None where not found)."""
        listing = self.api.request(
            "GET",
            f"/api/v1/namespaces/{self.namespace}/pods?labelSelector=workflows.argoproj.io/workflow%3D{workflow}",
        )
        node = self.cluster.node
        found: list[dict[str, Any]] = []
        for pod in listing.get("items") or []:
            status: dict[str, Any] = next(
                (
                    s
                    for s in (pod.get("status") or {}).get("containerStatuses") or []
                    if s.get("name") == "main"
                ),
                {},
            )
            record = cri_container(node, status.get("containerID") or "")
            found.append(
                {
                    "pod": pod["metadata"]["name"],
                    "node": (pod["metadata"].get("annotations") or {}).get(
                        "workflows.argoproj.io/node-name", ""
                    ),
                    "started": record.started if record else None,
                    "finished": record.finished if record else None,
                    "exit_code": record.exit_code if record else None,
                }
            )
        return found


def _name(scenario: str) -> str:
    return f"{scenario}-{uuid.uuid4().hex[:6]}"


def _step(
    image: str, command: list[str], name: str = "noop", inputs: list[str] | None = None
) -> dict[str, Any]:
    template: dict[str, Any] = {"name": name, "container": {"image": image, "command": command}}
    if inputs:
        template["inputs"] = {"parameters": [{"name": key} for key in inputs]}
    return template


def _summary(state: dict[str, Any], total: float, tasks: int, mains: list[dict[str, Any]]) -> dict[str, Any]:
    status = state.get("status") or {}
    started = [m["started"] for m in mains if m["started"]]
    finished = [m["finished"] for m in mains if m["finished"]]
    lifetimes = [m["finished"] - m["started"] for m in mains if m["started"] and m["finished"]]
    return {
        "phase": status.get("phase"),
        "message": status.get("message"),
        "tasks": tasks,
        "pods": len(mains),
        "total_seconds": round(total, 2),
        "tasks_per_minute": round(60 * tasks / total, 1) if total > 0 else None,
        "first_main_started_to_last_finished_seconds": round(max(finished) - min(started), 2)
        if started and finished
        else None,
        "main_container_lifetime_ms": distribution(lifetimes),
        "cri_records_found": f"{len(lifetimes)}/{len(mains)}",
    }


def chain(install: ArgoInstall, length: int) -> dict[str, Any]:
    """`length` steps one after another; hop = step i's main container finished → step i+1's started."""
    name = _name("chain")
    spec = {
        "entrypoint": "main",
        "templates": [
            {"name": "main", "steps": [[{"name": f"t{i}", "template": "noop"}] for i in range(length)]},
            _step(install.runtime_image, ["true"]),
        ],
    }
    state, total = install.run(name, spec, timeout=120 + 30 * length)
    mains = install.main_containers(name)
    result = _summary(state, total, length, mains)

    def index(main: dict[str, Any]) -> int:
        match = re.search(r"\.t(\d+)$", main["node"])
        return int(match.group(1)) if match else -1

    ordered = sorted(mains, key=index)
    hops = [
        later["started"] - earlier["finished"]
        for earlier, later in itertools.pairwise(ordered)
        if earlier["finished"] and later["started"]
    ]
    periods = [
        later["started"] - earlier["started"]
        for earlier, later in itertools.pairwise(ordered)
        if earlier["started"] and later["started"]
    ]
    result["hops"] = len(hops)
    result["hop_ms"] = distribution(hops)
    result["start_to_start_ms"] = distribution(periods)
    result["result_ok"] = result["phase"] == "Succeeded" and len(mains) == length
    return result


def fanout(install: ArgoInstall, tasks: int, parallelism: int) -> dict[str, Any]:
    """`tasks` no-ops in one step group (withSequence), at most `parallelism` at once."""
    name = _name("fanout")
    spec = {
        "entrypoint": "main",
        "parallelism": parallelism,
        "templates": [
            {
                "name": "main",
                "steps": [[{"name": "noop", "template": "noop", "withSequence": {"count": str(tasks)}}]],
            },
            _step(install.runtime_image, ["true"]),
        ],
    }
    state, total = install.run(name, spec, timeout=600 + 3 * tasks)
    mains = install.main_containers(name)
    result = {"parallelism": parallelism, **_summary(state, total, tasks, mains)}
    result["result_ok"] = result["phase"] == "Succeeded" and sum(m["exit_code"] == 0 for m in mains) == tasks
    return result


def chord(install: ArgoInstall, tasks: int, parallelism: int) -> dict[str, Any]:
    """As kubecanvas's chord: add(i, i) for i < tasks, then a sum of their results (stdout, which
    Argo aggregates into a JSON list for the dependent task); checked against tasks * (tasks - 1)."""
    name = _name("chord")
    expected = tasks * (tasks - 1)
    add = _step(
        install.runtime_image,
        ["python3", "-c", "import sys; i = int(sys.argv[1]); print(i + i)", "{{inputs.parameters.i}}"],
        "add",
        ["i"],
    )
    tsum = _step(
        install.runtime_image,
        [
            "python3",
            "-c",
            # Argo keeps a step's stdout as outputs.result only when another step refers to it,
            # so the sum is checked here: a wrong one fails the step, and with it the workflow.
            "import json, sys; total = sum(int(x) for x in json.loads(sys.argv[1])); print(total); "
            "sys.exit(0 if total == int(sys.argv[2]) else 1)",
            "{{inputs.parameters.results}}",
            str(expected),
        ],
        "tsum",
        ["results"],
    )
    spec = {
        "entrypoint": "main",
        "parallelism": parallelism,
        "templates": [
            {
                "name": "main",
                "dag": {
                    "tasks": [
                        {
                            "name": "add",
                            "template": "add",
                            "withSequence": {"count": str(tasks)},
                            "arguments": {"parameters": [{"name": "i", "value": "{{item}}"}]},
                        },
                        {
                            "name": "tsum",
                            "template": "tsum",
                            "depends": "add",
                            "arguments": {
                                "parameters": [{"name": "results", "value": "{{tasks.add.outputs.result}}"}]
                            },
                        },
                    ]
                },
            },
            add,
            tsum,
        ],
    }
    state, total = install.run(name, spec, timeout=600 + 3 * tasks)
    mains = install.main_containers(name)
    result = {"header": tasks, "parallelism": parallelism, **_summary(state, total, tasks + 1, mains)}
    nodes = ((state.get("status") or {}).get("nodes") or {}).values()
    adds = [n for n in nodes if n.get("templateName") == "add" and n.get("type") == "Pod"]
    sums = [n for n in nodes if n.get("templateName") == "tsum" and n.get("type") == "Pod"]
    result["add_results"] = sum(1 for n in adds if (n.get("outputs") or {}).get("result") is not None)
    # tsum exits 1 unless its total is `expected` (its own stdout is not kept, see above).
    result["sum_checked_by_tsum"] = expected
    result["result_ok"] = (
        result["phase"] == "Succeeded"
        and [n.get("phase") for n in sums] == ["Succeeded"]
        and result["add_results"] == tasks
    )
    return result


def run_variant(  # noqa: PLR0917 - one call site, in order
    cluster: Cluster,
    api: KubeClient,
    variant: str,
    runtime_image: str,
    sizes: dict[str, int],
    only: set[str],
    artifacts: Path,
    done: Callable[[str, dict[str, Any]], None],
    keep: bool = False,
) -> None:
    """Install one variant, run the chosen scenarios (hop, fanout, chord) on it, uninstall it; what
    it has so far goes to `done` after each scenario, so that an interrupted run keeps it."""
    results: dict[str, Any] = {"controller_env": VARIANTS[variant], "errors": []}
    with ArgoInstall(cluster, api, variant, runtime_image, keep) as install:
        results["namespace"] = install.namespace

        def ours(namespace: str) -> bool:
            return namespace == install.namespace

        for scenario in ("hop", "fanout", "chord"):
            if scenario not in only:
                continue
            say(f"{variant} {scenario}: starting")
            # The node is shared: what else ran says how much the figures are worth.
            context = {
                "load_before": load_average(),
                "other_pods_before": other_pods(api, ours),
            }
            try:
                if scenario == "hop":
                    results["hop"] = chain(install, sizes["hop"])
                elif scenario == "fanout":
                    results["fanout"] = fanout(install, sizes["fanout"], sizes["fanout"])
                else:
                    results["chord"] = chord(install, sizes["chord"], sizes["parallelism"])
                results[scenario].update(
                    context,
                    load_after=load_average(),
                    other_pods_after=other_pods(api, ours),
                )
                say(f"{variant} {scenario}: {json.dumps(results[scenario])}")
            except Exception as error:  # noqa: BLE001 - one failed scenario must not lose the others
                say(f"{variant} {scenario} failed: {error}")
                results["errors"].append(f"{scenario}: {type(error).__name__}: {error}")
            done(variant, results)
        install.controller_log(artifacts / f"{variant}-controller.log")


def run_all(  # noqa: PLR0917 - one call site, in order
    cluster: Cluster,
    api: KubeClient,
    runtime_image: str,
    sizes: dict[str, int],
    only: set[str],
    artifacts: Path,
    done: Callable[[str, dict[str, Any]], None],
    keep: bool = False,
    variants: tuple[str, ...] = tuple(VARIANTS),
) -> None:
    """The variants one after the other (never at once: they would share the node's CPU); each
    one's results go to `done` as soon as it has finished, so that a later failure loses none."""
    existed = crds_present(api)
    install_crds(cluster)
    try:
        for variant in variants:
            try:
                run_variant(cluster, api, variant, runtime_image, sizes, only, artifacts, done, keep)
            except Exception as error:  # noqa: BLE001 - the next variant may still work
                say(f"{variant} failed: {error}")
                done(
                    variant,
                    {"controller_env": VARIANTS[variant], "errors": [f"{type(error).__name__}: {error}"]},
                )
    finally:
        if not existed and not keep:
            delete_crds(cluster)
