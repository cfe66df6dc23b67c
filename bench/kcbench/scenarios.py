"""The kubecanvas scenarios: hop, fan-out, chord, chunks, scale."""

from __future__ import annotations

import os
import re
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import redis

from kcbench.analysis import distribution, folded_profile, importtime_summary, node_agent_pods
from kcbench.cluster import REPO, Cluster, create_config_map, create_namespace, delete_namespace, say
from kcbench.kube import KubeClient
from kcbench.procs import CpuLedger, OperatorProcess, ProcessSampler, PySpy
from kcbench.workflows import RunData, run_workflow

__all__ = ["Context", "chord", "chunks", "fanout", "hop", "scale"]

TASKS_FILE = REPO / "bench" / "benchtasks.py"
CODE = {"configMap": {"name": "benchtasks"}}


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

    @contextmanager
    def namespace(self, scenario: str) -> Iterator[str]:
        name = create_namespace(self.api, f"kcbench-{scenario}")
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
        ledger = CpuLedger(
            {
                **self.component_pids,
                "operator": self.operator.pid,
                "bench (this process: watches)": os.getpid(),
            }
        )
        ledger.begin()
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
            result["cpu_seconds"] = ledger.end()
            if spy is not None:
                own = spy.stop()
                profile = folded_profile(spy.output)
                result["operator_profile"] = {
                    **profile.top(),
                    "py_spy_cpu_seconds": round(own.get("cpu_seconds", 0.0), 2),
                    "file": str(spy.output),
                }
            after = self.operator.metrics()
            if before is not None and after is not None:
                result["operator_metrics"] = {
                    name: histogram_delta(before, after, f"kubecanvas_{name}_seconds")
                    for name in ("step_latency", "report_delay")
                }


def workflow_name(scenario: str) -> str:
    return f"{scenario}-{uuid.uuid4().hex[:5]}"


def noop() -> dict[str, Any]:
    return {"task": "benchtasks.noop"}


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


HOP_SEGMENTS = (
    ("report", "result written -> the operator applied it (stream read, engine step)"),
    ("operator_step", "operator applied -> the next Job ADDED (persist, build, create, watch)"),
    ("job_controller", "Job ADDED -> its pod ADDED (kube-controller-manager)"),
    ("agent_bind", "pod ADDED -> bound (node agent scheduling)"),
    ("agent_spawn", "bound -> process spawned (node agent: volumes, env, shim)"),
    ("process_start", "spawned -> the runtime's startedAt (interpreter, imports, code, Redis)"),
)


def hop(ctx: Context, length: int) -> dict[str, Any]:
    result: dict[str, Any] = {"tasks": length}
    with ctx.namespace("hop") as namespace:
        name = workflow_name("hop")
        with ctx.observed("hop", result):
            data = run_workflow(
                ctx.api,
                ctx.store,
                namespace,
                name,
                {"code": CODE, "canvas": {"chain": [noop() for _ in range(length)]}},
                timeout=60 + 20 * length,
                label="hop",
            )
        result.update(_hop_figures(ctx, data))
        if data.recorder.job_template is not None:
            result["runtime_startup"] = importtime_jobs(ctx, namespace, data.recorder.job_template)
    return result


def _hop_figures(ctx: Context, data: RunData) -> dict[str, Any]:
    agent = node_agent_pods(ctx.cluster.nodeagent_log, data.namespace)
    pod_of = {key: pod for pod, key in data.recorder.pod_attempts.items()}
    overhead: list[float] = []
    end_to_end: list[float] = []
    segments: dict[str, list[float]] = {key: [] for key, _ in HOP_SEGMENTS}
    per_hop: list[dict[str, float | None]] = []
    length = len(data.records)
    for index in range(1, length):
        previous, current = f"t{index - 1}", f"t{index}"
        _, finished = data.runtime_times(previous)
        started, _ = data.runtime_times(current)
        job = data.recorder.jobs.get(f"{current}#1")
        pod_name = pod_of.get(f"{current}#1")
        pod = data.recorder.pods.get(pod_name or "")
        agent_pod = agent.get(pod_name or "")
        applied = (data.records.get(previous) or {}).get("finished_at")
        if finished is None or started is None or job is None:
            continue
        overhead.append(job - finished)
        end_to_end.append(started - finished)
        points = [
            finished,
            applied,
            job,
            pod,
            agent_pod.bound if agent_pod else None,
            agent_pod.started if agent_pod else None,
            started,
        ]
        row: dict[str, float | None] = {"hop": float(index)}
        for (key, _), low, high in zip(HOP_SEGMENTS, points, points[1:], strict=False):
            value = high - low if low is not None and high is not None else None
            row[key] = round(value * 1000, 1) if value is not None else None
            if value is not None:
                segments[key].append(value)
        per_hop.append(row)
    task_seconds = [
        (outcome["finishedAt"] - outcome["startedAt"])
        for outcome in data.outcomes.values()
        if outcome.get("startedAt") and outcome.get("finishedAt")
    ]
    lifetimes = [
        pod.exited - pod.started
        for pod in agent.values()
        if pod.exited is not None and pod.started is not None
    ]
    return {
        "phase": data.phase,
        "total_seconds": round(data.total_seconds, 2),
        "hops": len(overhead),
        "operator_overhead_ms": distribution(overhead),
        "end_to_end_ms": distribution(end_to_end),
        "segments_ms": {key: distribution(values) for key, values in segments.items()},
        "segment_meaning": dict(HOP_SEGMENTS),
        "task_body_ms": distribution(task_seconds),
        "pod_process_lifetime_ms": distribution(lifetimes),
        "per_hop": per_hop,
        "watch_errors": data.watch_errors,
    }


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
        agent = node_agent_pods(ctx.cluster.nodeagent_log, namespace)
        lifetime = next(
            (
                pod.exited - pod.started
                for pod_name, pod in agent.items()
                if pod_name.startswith(job_name + "-") and pod.exited and pod.started
            ),
            None,
        )
        return logs, lifetime

    runtime: list[dict[str, Any]] = []
    bare: list[dict[str, Any]] = []
    for index in range(runs):
        logs, lifetime = run(index, ["python", "-X", "importtime", "-m", "kubecanvas_runtime"])
        (ctx.artifacts / f"importtime-runtime-{index}.txt").write_text(logs)
        runtime.append({**importtime_summary(logs), "process_lifetime_ms": _ms(lifetime)})
    for index in range(2):
        logs, lifetime = run(runs + index, ["python", "-X", "importtime", "-c", "pass"])
        bare.append({**importtime_summary(logs), "process_lifetime_ms": _ms(lifetime)})
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


# ================================================================== fan-out, chord, chunks


def _throughput(data: RunData, tasks: int) -> dict[str, Any]:
    times = sorted(data.recorder.job_times)
    total = data.total_seconds
    ended = [o["finishedAt"] for o in data.outcomes.values() if o.get("finishedAt")]
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
        "job_created_to_task_started_ms": distribution(waits),
        "workflow_max_bytes": data.recorder.max_size,
        "workflow_versions_seen": data.recorder.versions,
        "watch_errors": data.watch_errors,
    }


def fanout(ctx: Context, tasks: int, parallelism: int) -> dict[str, Any]:
    result: dict[str, Any] = {"tasks": tasks, "parallelism": parallelism}
    with ctx.namespace("fanout") as namespace:
        with ctx.observed("fanout", result):
            data = run_workflow(
                ctx.api,
                ctx.store,
                namespace,
                workflow_name("fanout"),
                {
                    "code": CODE,
                    "parallelism": parallelism,
                    "canvas": {"group": [noop() for _ in range(tasks)]},
                },
                timeout=600 + 3 * tasks,
                label="fan-out",
            )
        result.update(_throughput(data, tasks))
        result["pod_process_lifetime_ms"] = _lifetimes(ctx, data)
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
            data = run_workflow(
                ctx.api,
                ctx.store,
                namespace,
                workflow_name("chord"),
                {"code": CODE, "parallelism": parallelism, "canvas": canvas},
                timeout=600 + 3 * tasks,
                label="chord",
            )
        result.update(_throughput(data, tasks + 1))
        result["pod_process_lifetime_ms"] = _lifetimes(ctx, data)
        result["result_ok"] = data.recorder.status.get("result") == tasks * (tasks - 1)
    return result


def chunks(ctx: Context, items: int, count: int, parallelism: int) -> dict[str, Any]:
    size = max(1, items // count)
    result: dict[str, Any] = {"items": items, "chunks": count, "tasks": count, "parallelism": parallelism}
    canvas = {"chunks": {"task": "benchtasks.add", "items": [[i, i] for i in range(items)], "size": size}}
    with ctx.namespace("chunks") as namespace:
        with ctx.observed("chunks", result):
            data = run_workflow(
                ctx.api,
                ctx.store,
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
        result["pod_process_lifetime_ms"] = _lifetimes(ctx, data)
        value = data.recorder.status.get("result")
        flat = [x for chunk in value for x in chunk] if isinstance(value, list) else []
        result["result_ok"] = flat == [2 * i for i in range(items)]
    return result


def _lifetimes(ctx: Context, data: RunData) -> dict[str, float]:
    agent = node_agent_pods(ctx.cluster.nodeagent_log, data.namespace)
    return distribution([pod.exited - pod.started for pod in agent.values() if pod.exited and pod.started])


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
) -> dict[str, Any]:
    rate = rate_hint or 240.0  # tasks per minute, when no fan-out figure says better
    estimate = tasks / rate
    say(
        f"scale: {tasks} tasks under parallelism {parallelism}: about {estimate:.0f} minutes at "
        f"{rate:.0f} tasks/min (2 cores take a while; --scale N to change the size)"
    )
    result: dict[str, Any] = {
        "tasks": tasks,
        "parallelism": parallelism,
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
                data = run_workflow(
                    ctx.api,
                    ctx.store,
                    namespace,
                    workflow_name("scale"),
                    {
                        "code": CODE,
                        "parallelism": parallelism,
                        "canvas": {"group": [noop() for _ in range(tasks)]},
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
        result["pod_process_lifetime_ms"] = _lifetimes(ctx, data)
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
    sizes: dict[str, int] = {}
    for part in ("meta", "graph", "nodes", "records", "calls", "results", "outcomes"):
        usage = store.memory_usage(f"kc:{{{uid}}}:{part}")
        sizes[part] = int(usage or 0)
    return sizes
