"""The kubecanvas scenarios: hop, fan-out, chord, chunks, scale; the hop and fan-out in warm runners too."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, cast

import redis
from prometheus_client.parser import text_string_to_metric_families

from kcbench.analysis import distribution, folded_profile, importtime_summary
from kcbench.cluster import (
    REPO,
    Cluster,
    create_config_map,
    create_namespace,
    delete_namespace,
    other_pods,
    say,
)
from kcbench.kube import KubeClient
from kcbench.node import NodePaths, NodeReader, cri_container
from kcbench.procs import ComponentLedger, OperatorProcess, ProcessSampler, PySpy
from kcbench.workflows import PodTimes, RunData, run_workflow

__all__ = ["Context", "chord", "chunks", "fanout", "hop", "scale"]

TASKS_FILE = REPO / "bench" / "benchtasks.py"
CODE = {"configMap": {"name": "benchtasks"}}
WARM = {"runner": "warm"}  # a Workflow's spec.defaults that runs every task in warm runners


@dataclass
class Context:
    cluster: Cluster
    api: KubeClient
    store: redis.Redis
    operator: OperatorProcess
    artifacts: Path
    profile: bool
    profile_rate: int = 10
    keep_namespaces: bool = False
    namespaces: list[str] = field(default_factory=list)
    component_pids: dict[str, int] = field(default_factory=dict)
    # The run's namespaces are `<prefix><scenario>-<random>`; the operator watches `<prefix>*`.
    prefix: str = "kcbench-"
    node: NodePaths | None = None
    failures: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> why it did not succeed

    @property
    def events_stream(self) -> str:
        return self.operator.events_stream

    def reader(self) -> NodeReader | None:
        return NodeReader(self.node) if self.node is not None else None

    def run(self, namespace: str, name: str, spec: dict[str, Any], **options: Any) -> RunData:
        """run_workflow with the node's records and the runtime's start reports; a run that
        did not succeed leaves why in `failures[label]`."""
        data = run_workflow(
            self.api,
            self.store,
            namespace,
            name,
            spec,
            node=self.reader(),
            events_stream=self.events_stream,
            **options,
        )
        if data.phase != "Succeeded":
            summary = data.failure_summary()
            self.failures[str(options.get("label", name))] = summary
            say(f"{options.get('label', name)}: {data.phase}: {summary['message']}")
        return data

    def result(self, namespace: str, data: RunData) -> Any:
        """The workflow's result: from its status, or, when it was too large for the status
        (`resultRef`), as a user reads it, with `kubecanvas result` from Redis. Before the
        namespace goes."""
        status = data.recorder.status
        if not status.get("resultRef"):
            return status.get("result")
        command = [str(Path(sys.executable).parent / "kubecanvas"), "result", data.name, "-n", namespace]
        env = {
            **os.environ,
            "KUBECONFIG": str(self.cluster.kubeconfig),
            "KUBECANVAS_REDIS_URL": self.cluster.redis_url,
        }
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            say(f"kubecanvas result {data.name}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
            return None
        return json.loads(done.stdout)

    def other_pods(self) -> int | None:
        """Pods of other work on the node: outside kube-system and this run's namespaces."""
        return other_pods(self.api, lambda namespace: namespace.startswith(self.prefix))

    @contextmanager
    def namespace(self, scenario: str) -> Iterator[str]:
        name = create_namespace(self.api, f"{self.prefix}{scenario}")
        self.namespaces.append(name)
        create_config_map(self.api, name, "benchtasks", {"benchtasks.py": TASKS_FILE.read_text()})
        try:
            yield name
        finally:
            if not self.keep_namespaces:
                delete_namespace(self.api, name)

    @contextmanager
    def observed(self, scenario: str, result: dict[str, Any]) -> Iterator[None]:
        """The operator's CPU and RSS (always), its step-latency histogram (if it serves
        metrics) and a py-spy profile (with --profile) over one scenario."""
        sampler = ProcessSampler(self.operator.pid)
        sampler.start()
        ledger = ComponentLedger(
            {
                **self.component_pids,
                "operator": self.operator.pid,
                "bench (this process: watches)": os.getpid(),
            },
            kubepods_cpu=self.node.kubepods_cgroup("cpuacct") if self.node else None,
            kubepods_memory=self.node.kubepods_cgroup("memory") if self.node else None,
            shim_address=self.node.containerd_socket if self.node else "",
        )
        others_before = self.other_pods()
        ledger.begin()
        requests_before = apiserver_requests(self.api)
        before = self.operator.metrics()
        spy: PySpy | None = None
        if self.profile:
            spy = PySpy(self.operator.pid, self.artifacts / f"pyspy-{scenario}.txt", rate=self.profile_rate)
            if not spy.start():
                say("py-spy could not attach to the operator: no profile")
                spy = None
        try:
            yield
        finally:
            result["operator"] = sampler.stop()
            result["cpu_seconds"], result["peak_rss_mb"] = ledger.end()
            result["other_pods"] = {"before": others_before, "after": self.other_pods()}
            if spy is not None:
                own = spy.stop()
                profile = folded_profile(spy.output)
                result["operator_profile"] = {
                    **profile.top(),
                    "py_spy_cpu_seconds": round(own.get("cpu_seconds", 0.0), 2),
                    "file": str(spy.output),
                }
            after = self.operator.metrics()
            requests_after = apiserver_requests(self.api)
            if before is not None and after is not None:
                result["operator_metrics"] = {
                    name: histogram_delta(before, after, f"kubecanvas_{name}_seconds")
                    for name in ("step_latency", "report_delay")
                }
                calls = "kubecanvas_kube_api_calls_total"
                result["operator_api_calls"] = grown(
                    counter_totals(before, calls, _api_call), counter_totals(after, calls, _api_call)
                )
            if requests_before is not None and requests_after is not None:
                result["apiserver_requests"] = grown(requests_before, requests_after)


def counter_totals(text: str, sample: str, key: Callable[[dict[str, str]], str]) -> dict[str, float]:
    """A counter's samples in a Prometheus scrape, summed by `key` of their labels."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == sample:
                name = key(found.labels)
                totals[name] = totals.get(name, 0.0) + found.value
    return totals


def grown(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """What grew between two sets of counter totals, and by how much."""
    return {key: value - before.get(key, 0.0) for key, value in after.items() if value > before.get(key, 0.0)}


def _request_kind(labels: dict[str, str]) -> str:
    """`VERB resource[.group][/subresource]`: Argo's `workflows.argoproj.io` apart from ours."""
    resource = labels.get("resource", "?")
    if labels.get("group"):
        resource += f".{labels['group']}"
    if labels.get("subresource"):
        resource += f"/{labels['subresource']}"
    return f"{labels.get('verb', '?')} {resource}"


def apiserver_requests(api: KubeClient) -> dict[str, float] | None:
    """Every client's requests the API server has served (`apiserver_request_total`), by
    kind: the operator's, kopf's watches, the kubelet's status updates, the controllers', the
    scheduler's bindings, this benchmark's watches."""
    try:
        text = api.text("/metrics")
    except Exception:  # noqa: BLE001 - a figure for the record, never worth failing a scenario
        return None
    return counter_totals(text, "apiserver_request_total", _request_kind)


def _api_call(labels: dict[str, str]) -> str:
    return labels.get("call", "")


def workflow_name(scenario: str) -> str:
    return f"{scenario}-{uuid.uuid4().hex[:5]}"


def noop() -> dict[str, Any]:
    return {"task": "benchtasks.noop"}


def _spec(canvas: dict[str, Any], *, warm: bool = False, **spec: Any) -> dict[str, Any]:
    """A Workflow's spec around `canvas`, its tasks in warm runners if `warm`."""
    return {"code": CODE, **spec, "canvas": canvas, **({"defaults": WARM} if warm else {})}


# ================================================================== Prometheus histograms


def _histogram(text: str, metric: str) -> tuple[list[tuple[float, float]], float, float]:
    buckets: list[tuple[float, float]] = []
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith(metric + "_bucket"):
            bound = re.search(r'le="([^"]+)"', line)
            if bound:
                buckets.append((float(bound.group(1)), float(line.rsplit(" ", 1)[1])))
        elif line.startswith(metric + "_sum"):
            total = float(line.rsplit(" ", 1)[1])
        elif line.startswith(metric + "_count"):
            count = float(line.rsplit(" ", 1)[1])
    return sorted(buckets), total, count


def histogram_delta(before: str, after: str, metric: str) -> dict[str, Any]:
    """What the histogram gained between two scrapes: count, mean and the p50/p95 that
    Prometheus' histogram_quantile would estimate (linear within a bucket), in ms."""
    b0, s0, c0 = _histogram(before, metric)
    b1, s1, c1 = _histogram(after, metric)
    count = c1 - c0
    if count <= 0 or not b1:
        return {"n": 0}
    previous = dict(b0)
    cumulative = [(bound, value - previous.get(bound, 0.0)) for bound, value in b1]

    def quantile(q: float) -> float:
        rank = q * count
        low_bound, low_count = 0.0, 0.0
        for bound, value in cumulative:
            if value >= rank:
                if bound == float("inf"):
                    return low_bound
                width = value - low_count
                return low_bound + (bound - low_bound) * ((rank - low_count) / width if width else 0)
            low_bound, low_count = bound, value
        return low_bound

    return {
        "n": int(count),
        "mean": round(1000 * (s1 - s0) / count, 1),
        "p50": round(1000 * quantile(0.5), 1),
        "p95": round(1000 * quantile(0.95), 1),
        "buckets_le_ms": {f"{bound * 1000:g}": int(value) for bound, value in cumulative},
    }


# ================================================================== hop


# The instants of one hop, from task i-1's result to task i's start, in order: (key, what).
# All on the host's clock; file times (birth time, mtime) are the kernel's coarse clock, up to a
# tick (a few ms) early. See kcbench.node and docs/benchmarks.md.
HOP_POINTS = (
    ("written", "the runtime's finishedAt of task i-1 (Redis outcome)"),
    ("applied", "the operator applied it (the engine record's finished_at, Redis)"),
    ("job", "Job i ADDED (watch receipt)"),
    ("pod", "its pod ADDED (watch receipt)"),
    ("bound", "the pod's first version with spec.nodeName (watch receipt)"),
    ("kubelet", "the kubelet's first status for the pod (kubelet.log, µs)"),
    ("log_dir", "the kubelet made the pod's log directory, right before RunPodSandbox (birth time)"),
    ("sandbox", "containerd wrote the sandbox's files (CRI sandboxes/<id>/hostname, mtime)"),
    ("shim", "the pod's shim started (containerd.log, ns)"),
    ("config", "the kubelet wrote pods/<uid>/etc-hosts (mtime)"),
    ("created", "the container created (CRI CreatedAt, ns)"),
    ("started", "the container's process started (CRI StartedAt, ns)"),
    ("runtime", "the runtime's startedAt of task i (Redis outcome)"),
)

# Consecutive points: their differences add up to the hop, end to end.
HOP_SEGMENTS = (
    ("report", "result written → the operator applied it (stream read, engine step)"),
    ("operator_step", "applied → next Job ADDED (persist, build the Job, POST it, the watch)"),
    ("job_controller", "Job ADDED → its pod ADDED (kube-controller-manager's Job controller)"),
    ("scheduler", "pod ADDED → bound (kube-scheduler: queue, filter, score, bind)"),
    ("kubelet_admit", "bound → the kubelet's first status for it (its watch, admission, sync start)"),
    (
        "volumes",
        "→ the kubelet made the pod's log directory (cgroup, pod dirs; the pod's volumes mounted, "
        "its emptyDir at /tmp unless --volume-less: WaitForAttachAndMount polls every 300 ms, and "
        "returns at once for a pod without volumes)",
    ),
    ("sandbox_create", "→ sandbox files written (containerd: pause image check, snapshot, container record)"),
    ("sandbox_network", "→ the pod's shim started (network namespace, CNI bridge + host-local)"),
    (
        "sandbox_start",
        "→ the kubelet writes etc-hosts (shim, runc create/start of pause, RunPodSandbox "
        "returns, sandbox status, image check, container config)",
    ),
    ("container_create", "→ CRI CreatedAt (CreateContainer: rootfs snapshot, container record)"),
    ("container_start", "→ CRI StartedAt (StartContainer: runc create + start in the pod's shim)"),
    (
        "runtime_start",
        "→ the runtime's startedAt (interpreter, imports, the ConfigMap's code from the environment "
        "written out, inputs from Redis)",
    ),
)

# The same hop in the parts each component owns, each measured directly between its two
# ends (so an instant missing in between loses nothing here).
HOP_PARTS = (
    ("operator", "written", "job", "task i-1's result written → Job i created (report + operator_step)"),
    ("job_controller", "job", "pod", "Job created → pod created"),
    ("scheduler", "pod", "bound", "pod created → bound (PodScheduled)"),
    (
        "kubelet_sandbox",
        "bound",
        "config",
        "bound → sandbox ready and the kubelet building the container (kubelet, volumes, CNI, pause)",
    ),
    (
        "container_start",
        "config",
        "started",
        "container config → container process started (containerd, runc)",
    ),
    ("runtime_start", "started", "runtime", "container process started → the runtime's startedAt"),
)

# What the API shows (watch receipts: when the kubelet's status updates arrived).
API_VIEW = (
    ("bound_to_sandbox_ready_seen", "bound → first version with PodReadyToStartContainers True"),
    ("bound_to_container_started_seen", "bound → first version whose container has startedAt"),
    ("container_started_report_lag", "CRI StartedAt → that version received (the kubelet's status lag)"),
)


def hop(ctx: Context, length: int, *, warm: bool = False) -> dict[str, Any]:
    """A chain of `length` no-ops: in a pod per task, or (`warm`) in warm runners."""
    scenario = "warm-hop" if warm else "hop"
    result: dict[str, Any] = {"tasks": length, "runner": "warm" if warm else "pod"}
    with ctx.namespace(scenario) as namespace:
        name = workflow_name(scenario)
        with ctx.observed(scenario, result):
            data = ctx.run(
                namespace,
                name,
                _spec({"chain": [noop() for _ in range(length)]}, warm=warm),
                timeout=60 + 20 * length,
                label=scenario,
            )
        if warm:
            result.update(_warm_hop_figures(data))
            return result
        result.update(_hop_figures(data))
        if data.recorder.job_template is not None:
            result["runtime_startup"] = importtime_jobs(ctx, namespace, data.recorder.job_template)
    return result


def _hop_points(data: RunData, index: int) -> dict[str, float | None]:
    previous, current = f"t{index - 1}", f"t{index}"
    _, written = data.runtime_times(previous)
    started, _ = data.runtime_times(current)
    pod = data.recorder.pod_of(f"{current}#1")
    node = pod.node if pod is not None else None
    return {
        "written": written,
        "applied": (data.records.get(previous) or {}).get("finished_at"),
        "job": data.recorder.jobs.get(f"{current}#1"),
        "pod": pod.added if pod else None,
        "bound": pod.bound if pod else None,
        "kubelet": node.kubelet_status if node else None,
        "log_dir": node.log_dir if node else None,
        "sandbox": node.sandbox_created if node else None,
        "shim": node.shim_started if node else None,
        "config": node.container_config if node else None,
        "created": node.created if node else None,
        "started": node.started if node else None,
        "runtime": started,
    }


def _between(points: dict[str, float | None], low: str, high: str) -> float | None:
    a, b = points.get(low), points.get(high)
    return b - a if a is not None and b is not None else None


def _api_view(pod: PodTimes | None) -> dict[str, float | None]:
    node = pod.node if pod is not None else None
    if pod is None:
        return {key: None for key, _ in API_VIEW}
    return {
        "bound_to_sandbox_ready_seen": (
            pod.sandbox_seen - pod.bound if pod.sandbox_seen is not None and pod.bound is not None else None
        ),
        "bound_to_container_started_seen": (
            pod.started_seen - pod.bound if pod.started_seen is not None and pod.bound is not None else None
        ),
        "container_started_report_lag": (
            pod.started_seen - node.started
            if node is not None and node.started is not None and pod.started_seen is not None
            else None
        ),
    }


def _hop_figures(data: RunData) -> dict[str, Any]:
    keys = [key for key, _ in HOP_POINTS]
    overhead: list[float] = []
    end_to_end: list[float] = []
    segments: dict[str, list[float]] = {key: [] for key, _ in HOP_SEGMENTS}
    parts: dict[str, list[float]] = {key: [] for key, *_ in HOP_PARTS}
    api_view: dict[str, list[float]] = {key: [] for key, _ in API_VIEW}
    started_report: list[float] = []
    api_agrees = api_checked = 0
    per_hop: list[dict[str, Any]] = []
    for index in range(1, len(data.records)):
        points = _hop_points(data, index)
        written, job, runtime = points["written"], points["job"], points["runtime"]
        if written is None or runtime is None or job is None:
            continue
        overhead.append(job - written)
        end_to_end.append(runtime - written)
        row: dict[str, Any] = {"hop": index}
        for (key, _), low, high in zip(HOP_SEGMENTS, keys, keys[1:], strict=False):
            value = _between(points, low, high)
            row[key] = _ms(value)
            if value is not None:
                segments[key].append(value)
        for key, low, high, _ in HOP_PARTS:
            value = _between(points, low, high)
            if value is not None:
                parts[key].append(value)
        pod = data.recorder.pod_of(f"t{index}#1")
        for key, value in _api_view(pod).items():
            if value is not None:
                api_view[key].append(value)
        report = data.started_reports.get(f"t{index}#1")
        if report is not None:
            started_report.append(report["redis"] - runtime)
        if pod is not None and pod.node is not None and pod.node.started and "started" in pod.api:
            api_checked += 1
            api_agrees += int(int(pod.node.started) == int(pod.api["started"]))
        row["points"] = {key: value for key, value in points.items() if value is not None}
        per_hop.append(row)
    return {
        "phase": data.phase,
        "total_seconds": round(data.total_seconds, 2),
        "hops": len(overhead),
        "operator_overhead_ms": distribution(overhead),
        "end_to_end_ms": distribution(end_to_end),
        "segments_ms": {key: distribution(values) for key, values in segments.items()},
        "segment_meaning": dict(HOP_SEGMENTS),
        "parts_ms": {key: distribution(values) for key, values in parts.items()},
        "part_meaning": {key: meaning for key, _, _, meaning in HOP_PARTS},
        "api_view_ms": {key: distribution(values) for key, values in api_view.items()},
        "api_view_meaning": dict(API_VIEW),
        "api_started_at_matches_node": f"{api_agrees}/{api_checked}",
        "runtime_startedat_to_started_report_ms": distribution(started_report),
        "task_body_ms": _task_body(data),
        "container_lifetime_ms": _lifetimes(data),
        "node_records": _coverage(data),
        "per_hop": per_hop,
        "watch_errors": data.watch_errors,
    }


def _task_body(data: RunData) -> dict[str, float]:
    """The runtime's startedAt → finishedAt of every attempt: the task itself."""
    return distribution(
        outcome["finishedAt"] - outcome["startedAt"]
        for outcome in data.outcomes.values()
        if outcome.get("startedAt") and outcome.get("finishedAt")
    )


# A warm hop has no Job and no pod: the next task runs in a process a runner forks. Its
# instants, in order, all on the host's clock: (key, what).
WARM_HOP_POINTS = (
    ("written", "the runtime's finishedAt of task i-1 (Redis outcome)"),
    ("applied", "the operator applied it (the engine record's finished_at, Redis)"),
    ("runtime", "the runtime's startedAt of task i, in the process its runner forked (Redis outcome)"),
)
WARM_HOP_SEGMENTS = (
    ("report", "result written → the operator applied it (stream read, engine step)"),
    (
        "queue_to_start",
        "applied → task i's startedAt (persist the step, queue the attempt in Redis, a runner's "
        "blocking take, its fork, the child's Redis connection and inputs)",
    ),
)


def _warm_hop_figures(data: RunData) -> dict[str, Any]:
    """A warm chain's hops: task i's startedAt - task i-1's finishedAt, both the runtime's own
    (the outcomes hash), and the operator's instant between them."""
    keys = [key for key, _ in WARM_HOP_POINTS]
    end_to_end: list[float] = []
    segments: dict[str, list[float]] = {key: [] for key, _ in WARM_HOP_SEGMENTS}
    started_report: list[float] = []
    per_hop: list[dict[str, Any]] = []
    starts = [data.runtime_times(f"t{index}")[0] for index in range(len(data.records))]
    for index in range(1, len(data.records)):
        _, written = data.runtime_times(f"t{index - 1}")
        started, _ = data.runtime_times(f"t{index}")
        if written is None or started is None:
            continue
        points = {
            "written": written,
            "applied": (data.records.get(f"t{index - 1}") or {}).get("finished_at"),
            "runtime": started,
        }
        end_to_end.append(started - written)
        row: dict[str, Any] = {"hop": index, "end_to_end": _ms(started - written)}
        for (key, _), low, high in zip(WARM_HOP_SEGMENTS, keys, keys[1:], strict=False):
            value = _between(points, low, high)
            row[key] = _ms(value)
            if value is not None:
                segments[key].append(value)
        report = data.started_reports.get(f"t{index}#1")
        if report is not None:
            started_report.append(report["redis"] - started)
        row["points"] = {key: value for key, value in points.items() if value is not None}
        per_hop.append(row)
    return {
        "phase": data.phase,
        "total_seconds": round(data.total_seconds, 2),
        "hops": len(end_to_end),
        "end_to_end_ms": distribution(end_to_end),
        "segments_ms": {key: distribution(values) for key, values in segments.items()},
        "segment_meaning": dict(WARM_HOP_SEGMENTS),
        "start_to_start_ms": distribution(
            b - a for a, b in pairwise(starts) if a is not None and b is not None
        ),
        "runtime_startedat_to_started_report_ms": distribution(started_report),
        "task_body_ms": _task_body(data),
        **_runners(data),
        "per_hop": per_hop,
        "watch_errors": data.watch_errors,
    }


def _coverage(data: RunData) -> dict[str, str]:
    """How many of the run's pods each node record was found for."""
    pods = list(data.recorder.pods.values())
    fields = (
        "kubelet_status",
        "log_dir",
        "sandbox_created",
        "shim_started",
        "container_config",
        "started",
        "finished",
    )
    found = {key: sum(1 for pod in pods if getattr(pod.node, key, None) is not None) for key in fields}
    return {key: f"{count}/{len(pods)}" for key, count in found.items()}


def importtime_jobs(ctx: Context, namespace: str, template: dict[str, Any], runs: int = 3) -> dict[str, Any]:
    """`python -X importtime -m kubecanvas_runtime` in real pods (the same pod spec as a
    task's Job, code from the ConfigMap, a real Redis), plus `python -c pass` for the
    interpreter alone. The first run warms the page cache and bytecode; the median of
    the rest is reported. The runtime reports as attempt 99 on a stream of its own,
    so the operator never hears of it."""
    spec = template["spec"]["template"]["spec"]
    container = spec["containers"][0]
    env = [e for e in container.get("env", []) if e.get("name") not in ("KUBECANVAS_ATTEMPT",)]
    env = [e for e in env if e.get("name") != "KUBECANVAS_EVENTS_STREAM"]
    env += [
        {"name": "KUBECANVAS_ATTEMPT", "value": "99"},
        {"name": "KUBECANVAS_EVENTS_STREAM", "value": "kcbench:importtime"},
    ]

    def run(index: int, command: list[str]) -> tuple[str, float | None]:
        job_name = f"kcbench-importtime-{index}"
        pod_spec = {**spec, "containers": [{**container, "command": command, "env": env}]}
        ctx.api.request(
            "POST",
            f"/apis/batch/v1/namespaces/{namespace}/jobs",
            {
                "metadata": {"name": job_name},
                "spec": {"backoffLimit": 0, "template": {"metadata": {}, "spec": pod_spec}},
            },
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = ctx.api.request("GET", f"/apis/batch/v1/namespaces/{namespace}/jobs/{job_name}")
            status = job.get("status") or {}
            if status.get("succeeded") or status.get("failed"):
                break
            time.sleep(0.3)
        logs = ctx.cluster.kubectl("logs", "-n", namespace, f"job/{job_name}")
        return logs, container_lifetime(ctx, namespace, job_name)

    runtime: list[dict[str, Any]] = []
    bare: list[dict[str, Any]] = []
    for index in range(runs):
        logs, lifetime = run(index, ["python", "-X", "importtime", "-m", "kubecanvas_runtime"])
        (ctx.artifacts / f"importtime-runtime-{index}.txt").write_text(logs)
        runtime.append({**importtime_summary(logs), "process_lifetime_ms": _ms(lifetime)})
    for index in range(2):
        logs, lifetime = run(runs + index, ["python", "-X", "importtime", "-c", "pass"])
        bare.append({**importtime_summary(logs), "process_lifetime_ms": _ms(lifetime)})
    with suppress(redis.RedisError):
        ctx.store.delete("kcbench:importtime")  # the runs' reports: nobody reads them
    warm = runtime[1:] or runtime

    def median(rows: list[dict[str, Any]], key: str) -> float | None:
        values = [float(row[key]) for row in rows if row.get(key) is not None]
        return round(statistics.median(values), 1) if values else None

    best = min(warm, key=lambda row: cast(float, row["total_ms"]))
    return {
        "runtime_import_ms": median(warm, "total_ms"),
        "runtime_process_lifetime_ms": median(warm, "process_lifetime_ms"),
        "runtime_top_level_imports_ms": best["top_level_cumulative_ms"],
        "runtime_largest_self_ms": best["largest_self_ms"],
        "bare_python_import_ms": median(bare[1:] or bare, "total_ms"),
        "bare_python_process_lifetime_ms": median(bare[1:] or bare, "process_lifetime_ms"),
        "runs": runtime,
    }


def _ms(seconds: float | None) -> float | None:
    return round(seconds * 1000, 1) if seconds is not None else None


def container_lifetime(ctx: Context, namespace: str, job_name: str) -> float | None:
    """A Job's (first) container's process lifetime, from containerd's record (CRI
    StartedAt → FinishedAt, nanoseconds)."""
    if ctx.node is None:
        return None
    pods = ctx.api.request("GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector=job-name%3D{job_name}")
    for pod in (pods or {}).get("items") or []:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            record = cri_container(ctx.node, status.get("containerID") or "")
            if record is not None and record.started is not None and record.finished is not None:
                return record.finished - record.started
    return None


# ================================================================== fan-out, chord, chunks


def _throughput(data: RunData, tasks: int) -> dict[str, Any]:
    times = sorted(data.recorder.job_times)
    total = data.total_seconds
    ended = [o["finishedAt"] for o in data.outcomes.values() if o.get("finishedAt")]
    began = [o["startedAt"] for o in data.outcomes.values() if o.get("startedAt")]
    # The tasks' own span, the first start to the last end: the rate once something runs (without
    # the first pods' or runners' start, and the operator's last status write and its watch).
    span = max(ended) - min(began) if ended and began else 0.0
    waits = [
        outcome["startedAt"] - data.recorder.jobs[key]
        for key, outcome in data.outcomes.items()
        if outcome.get("startedAt") and key in data.recorder.jobs
    ]
    return {
        "phase": data.phase,
        "result_ok": None,
        "total_seconds": round(total, 2),
        "tasks_per_minute": round(60 * tasks / total, 1) if total > 0 else None,
        "jobs_created": len(times),
        "all_jobs_created_seconds": round(times[-1] - data.submitted, 2) if times else None,
        "first_job_seconds": round(times[0] - data.submitted, 2) if times else None,
        "first_task_done_seconds": round(min(ended) - data.submitted, 2) if ended else None,
        "first_task_started_seconds": round(min(began) - data.submitted, 2) if began else None,
        "last_task_done_seconds": round(max(ended) - data.submitted, 2) if ended else None,
        "tasks_per_minute_first_start_to_last_end": round(60 * tasks / span, 1) if span > 0 else None,
        "job_created_to_task_started_ms": distribution(waits),
        "pod_created_to_container_started_ms": _pod_start(data),
        "workflow_max_bytes": data.recorder.max_size,
        "workflow_versions_seen": data.recorder.versions,
        **_runners(data),
        "watch_errors": data.watch_errors,
    }


def _runners(data: RunData) -> dict[str, Any]:
    """The warm runners the run had: their Jobs and pods (the watches' `kubecanvas.io/runner-pool`
    objects), when the first and last Job appeared, and how long their pods took to start (as the
    watch saw it: the version whose container has started, the kubelet's status lag included)."""
    times = sorted(data.recorder.runner_jobs.values())
    pods = list(data.recorder.runner_pods.values())
    started = sorted(pod.started_seen for pod in pods if pod.started_seen is not None)
    return {
        "runner_jobs_created": len(times),
        "runner_pods_created": len(pods),
        "first_runner_job_seconds": round(times[0] - data.submitted, 2) if times else None,
        "last_runner_job_seconds": round(times[-1] - data.submitted, 2) if times else None,
        "first_runner_started_seen_seconds": round(started[0] - data.submitted, 2) if started else None,
        "runner_pod_created_to_started_seen_ms": distribution(
            pod.started_seen - pod.added for pod in pods if pod.started_seen is not None
        ),
    }


def fanout(ctx: Context, tasks: int, parallelism: int, *, warm: bool = False) -> dict[str, Any]:
    """A group of `tasks` no-ops: in a pod per task, or (`warm`) in warm runners."""
    scenario = "warm-fanout" if warm else "fanout"
    result: dict[str, Any] = {
        "tasks": tasks,
        "parallelism": parallelism,
        "runner": "warm" if warm else "pod",
    }
    with ctx.namespace(scenario) as namespace:
        with ctx.observed(scenario, result):
            data = ctx.run(
                namespace,
                workflow_name(scenario),
                _spec({"group": [noop() for _ in range(tasks)]}, warm=warm, parallelism=parallelism),
                timeout=600 + 3 * tasks,
                label=scenario,
            )
        result.update(_throughput(data, tasks))
        result["container_lifetime_ms"] = _lifetimes(data)
        result["result_ok"] = data.phase == "Succeeded"
    return result


def chord(ctx: Context, tasks: int, parallelism: int) -> dict[str, Any]:
    result: dict[str, Any] = {"tasks": tasks + 1, "header": tasks, "parallelism": parallelism}
    canvas = {
        "chord": {
            "header": [{"task": "benchtasks.add", "args": [i, i]} for i in range(tasks)],
            "body": {"task": "benchtasks.tsum"},
        }
    }
    with ctx.namespace("chord") as namespace:
        with ctx.observed("chord", result):
            data = ctx.run(
                namespace,
                workflow_name("chord"),
                {"code": CODE, "parallelism": parallelism, "canvas": canvas},
                timeout=600 + 3 * tasks,
                label="chord",
            )
        result.update(_throughput(data, tasks + 1))
        result["container_lifetime_ms"] = _lifetimes(data)
        result["result_ok"] = ctx.result(namespace, data) == tasks * (tasks - 1)
    return result


def chunks(ctx: Context, items: int, count: int, parallelism: int) -> dict[str, Any]:
    size = max(1, items // count)
    result: dict[str, Any] = {"items": items, "chunks": count, "tasks": count, "parallelism": parallelism}
    canvas = {"chunks": {"task": "benchtasks.add", "items": [[i, i] for i in range(items)], "size": size}}
    with ctx.namespace("chunks") as namespace:
        with ctx.observed("chunks", result):
            data = ctx.run(
                namespace,
                workflow_name("chunks"),
                {"code": CODE, "parallelism": parallelism, "canvas": canvas},
                timeout=600 + 10 * count,
                label="chunks",
            )
        result.update(_throughput(data, count))
        result["items_per_minute"] = (
            round(60 * items / data.total_seconds, 1) if data.total_seconds > 0 else None
        )
        result["container_lifetime_ms"] = _lifetimes(data)
        result["result_in_status"] = not data.recorder.status.get("resultRef")
        result["stored_canvas_bytes"] = data.stored_canvas_bytes
        result["workflow_keys_bytes"] = workflow_key_bytes(ctx.store, data.uid)
        value = ctx.result(namespace, data)
        flat = [x for chunk in value for x in chunk] if isinstance(value, list) else []
        result["result_ok"] = flat == [2 * i for i in range(items)]
    return result


def _lifetimes(data: RunData) -> dict[str, float]:
    """Task containers' process lifetimes (CRI StartedAt → FinishedAt)."""
    return distribution(
        [
            pod.node.finished - pod.node.started
            for pod in data.recorder.pods.values()
            if pod.node is not None and pod.node.started is not None and pod.node.finished is not None
        ]
    )


def _pod_start(data: RunData) -> dict[str, Any]:
    """Pod created → its container's process started (CRI), and the pod's way there."""
    created_to_started = [
        pod.node.started - pod.added
        for pod in data.recorder.pods.values()
        if pod.node is not None and pod.node.started is not None
    ]
    return distribution(created_to_started)


# ================================================================== scale


def redis_memory(store: redis.Redis) -> dict[str, int]:
    info: dict[str, Any] = store.info("memory")
    return {key: int(info[key]) for key in ("used_memory", "used_memory_peak", "used_memory_rss")}


def scale(
    ctx: Context,
    tasks: int,
    parallelism: int,
    rate_hint: float | None,
    on_tick: Callable[[], None] | None = None,
    *,
    runner: str = "pod",
) -> dict[str, Any]:
    """A group of `tasks` no-ops; `runner="warm"` runs them in warm runners (the operator's
    side, the Workflow's size and Redis's are the same; the node has no pod per task)."""
    rate = rate_hint or 240.0  # tasks per minute, when no fan-out figure says better
    if runner == "warm":
        rate = 3000.0  # measured: ~3,600 tasks/min in the warm fan-out
    estimate = tasks / rate
    say(
        f"scale: {tasks} tasks under parallelism {parallelism}: about {estimate:.0f} minutes at "
        f"{rate:.0f} tasks/min (2 cores take a while; --scale N to change the size)"
    )
    result: dict[str, Any] = {
        "tasks": tasks,
        "parallelism": parallelism,
        "runner": runner,
        "estimate_minutes": round(estimate, 1),
    }
    memory_before = redis_memory(ctx.store)
    sampled_peak = [memory_before["used_memory"]]
    stop = threading.Event()

    def sample_redis() -> None:
        while not stop.wait(1.0):
            with suppress(redis.RedisError):
                sampled_peak.append(redis_memory(ctx.store)["used_memory"])

    sampler = threading.Thread(target=sample_redis, name="redis-memory", daemon=True)
    with ctx.namespace("scale") as namespace:
        sampler.start()
        try:
            with ctx.observed("scale", result):
                data = ctx.run(
                    namespace,
                    workflow_name("scale"),
                    {
                        "code": CODE,
                        "parallelism": parallelism,
                        "canvas": {"group": [noop() for _ in range(tasks)]},
                        **({"defaults": {"runner": "warm"}} if runner == "warm" else {}),
                    },
                    timeout=max(1800.0, 6 * 60 * estimate),
                    label="scale",
                    progress_every=30.0,
                )
        finally:
            stop.set()
            sampler.join(5)
        memory_after = redis_memory(ctx.store)
        result.update(_throughput(data, tasks))
        result["container_lifetime_ms"] = _lifetimes(data)
        result["result_ok"] = data.phase == "Succeeded"
        result["redis"] = {
            "used_memory_before": memory_before["used_memory"],
            "used_memory_after": memory_after["used_memory"],
            "used_memory_peak": memory_after["used_memory_peak"],
            "used_memory_peak_sampled": max(sampled_peak),
            "workflow_keys_bytes": workflow_key_bytes(ctx.store, data.uid),
        }
    return result


def workflow_key_bytes(store: redis.Redis, uid: str) -> dict[str, int]:
    from kubecanvas.store.layout import WorkflowKeys

    sizes: dict[str, int] = {}
    for key in WorkflowKeys(uid).all():
        usage = store.memory_usage(key)
        sizes[key.rsplit(":", 1)[-1]] = int(usage or 0)
    return sizes
