"""Faults on the real node while a workflow runs, each bounded and self-stopping, and what the
workflow says afterwards: its phase, whether its result is exact, how many times each task
ran, what was left unfinished, and how long it took to recover.

`make test` runs every scenario small (a chord of 40 tasks, a few faults); `make chaos` runs
them at full size (`KUBECANVAS_CHAOS=full`: 500 tasks, 30 operator kills, the API server down
15 s and 60 s, the kubelet restarted). Each adds its row to the report (`support.chaos`),
written to `.cluster/chaos/report.md` and `report.json` (`KUBECANVAS_CHAOS_REPORT` to put it
elsewhere); the chart's webhook scenario (tests/chart) adds its own.

The operator here is a process on the host (so it can be killed with SIGKILL); the API
server, kubelet and Redis are the local cluster's own processes, stopped and started again
as a crash and a restart would.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from e2e.conftest import EXAMPLES
from e2e.test_operator import sig, workflow
from support.chaos import FINISH_TIMEOUT, FULL, PARALLELISM, SIZE, Report, Row
from support.cluster import STATE, Cluster, cluster_command, pid_alive
from support.operator import FINISHED, OperatorProcess, Workflows
from support.waiting import wait_until

RNG = random.Random(20261204)
# The suite's operator fails a pod that may still start after 5 s (so that the unschedulable
# tests are quick); a fault here keeps pods waiting longer than that, on the kubelet's own
# retries (a ConfigMap it cannot read while the API server is down, an image pull over the
# kubelet's QPS). The scenarios run with the production setting, as users would.
PRODUCTION_START_TIMEOUT = {"KUBECANVAS_UNSCHEDULABLE_TIMEOUT_SECONDS": "300"}


@pytest.fixture(scope="module", autouse=True)
def production_start_timeout(operator: OperatorProcess) -> Iterator[None]:
    """The suite's one operator, restarted with PRODUCTION_START_TIMEOUT for this module."""
    saved = dict(operator.env)
    operator.stop()
    operator.env.update(PRODUCTION_START_TIMEOUT)
    operator.start()
    try:
        yield
    finally:
        operator.stop()
        operator.env.clear()
        operator.env.update(saved)
        operator.start()


def chord(name: str, size: int = SIZE) -> tuple[dict[str, Any], int]:
    """A chord of `size` adds and their sum: its result is exact only if every header ran and
    the body saw each result once. Each task may be retried (a lost worker is retryable)."""
    header = [sig("add", i, i, retries={"max": 3}) for i in range(size)]
    canvas = {"chord": {"header": header, "body": sig("tsum", retries={"max": 3})}}
    return workflow(name, canvas, parallelism=PARALLELISM), sum(2 * i for i in range(size))


@dataclass
class Run:
    """A scenario's chord, applied and under way: its name, exact result and start time."""

    row: Row
    name: str
    expected: int
    started: float


def start(report: Report, workflows: Workflows, row: Row, name: str, *, done_before_fault: int) -> Run:
    """Add the scenario's row, apply its chord, and wait until it is far enough along."""
    report.rows.append(row)
    manifest, expected = chord(name)
    started = time.monotonic()
    applied = workflows.apply(manifest)
    wait_progress(workflows, applied, done_before_fault)
    return Run(row, applied, expected, started)


def done_count(workflows: Workflows, name: str) -> int:
    progress = str((workflows.get(name).get("status") or {}).get("progress") or "0/1")
    return int(progress.split("/", maxsplit=1)[0])


def wait_progress(workflows: Workflows, name: str, at_least: int, timeout: float = 300) -> None:
    wait_until(
        lambda: done_count(workflows, name) >= at_least or phase_of(workflows, name) in FINISHED,
        timeout=timeout,
        what=f"{at_least} tasks of {name} to be done",
    )


def phase_of(workflows: Workflows, name: str) -> str:
    return str((workflows.get(name).get("status") or {}).get("phase") or "")


def judge(
    row: Row, workflows: Workflows, name: str, expected_result: Any, *, started: float, fault_ended: float
) -> dict[str, Any]:
    """Wait for the workflow to finish and fill the row from what it says."""
    status = workflows.wait_finished(name, timeout=FINISH_TIMEOUT)["status"]
    finished = time.monotonic()
    row.phase, row.message = status["phase"], str(status.get("message") or "")[:200]
    row.total_s, row.recovered_s = finished - started, finished - fault_ended
    if status["phase"] == "Succeeded":
        row.result_exact = status.get("result") == expected_result
    try:
        tasks = workflows.document(name)["tasks"]
    except Exception as error:  # noqa: BLE001 - a lost state has no document: the row says so
        row.notes.append(f"no task document: {type(error).__name__}: {error}")
        tasks = []
    runs = [int(task.get("attempts") or 0) for task in tasks]
    row.tasks = len(tasks)
    row.max_runs = max(runs, default=0)
    row.runs_over_one = sum(run > 1 for run in runs)
    row.unfinished = sum(task["state"] not in ("SUCCESS", "FAILURE", "REVOKED") for task in tasks)
    if row.runs_over_one:
        row.notes += retry_reasons(workflows)
    return dict(status)


def retry_reasons(workflows: Workflows) -> list[str]:
    """Why attempts were retried, from the operator's TaskRetry Events (task ids and numbers
    blanked out, counted): the report says what made a task run again, not only that it did."""
    events = json.loads(
        workflows.cluster.kubectl(
            "get", "events", "-n", workflows.namespace, "--field-selector", "reason=TaskRetry", "-o", "json"
        )
    )["items"]
    counts: dict[str, int] = {}
    for event in events:
        text = re.sub(r"\bt\d+\b|\d+(\.\d+)?", "#", str(event.get("message") or ""))[:700]
        counts[text] = counts.get(text, 0) + int(event.get("count") or 1)
    return [
        f"retried {count}x: {text}" for text, count in sorted(counts.items(), key=lambda item: -item[1])[:4]
    ]


def ends_exact(row: Row) -> bool:
    return row.phase == "Succeeded" and bool(row.result_exact) and row.unfinished == 0


# ------------------------------------------------------------------------------ scenarios


def test_operator_killed_again_and_again(
    chaos_report: Report, workflows: Workflows, operator: OperatorProcess
) -> None:
    kills = 30 if FULL else 3
    row = Row(f"operator kill -9 x{kills}", "Succeeded, exact, every task run once")
    run = start(chaos_report, workflows, row, "operator-kills", done_before_fault=1)
    name, expected, started = run.name, run.expected, run.started
    for _ in range(kills):
        if phase_of(workflows, name) in FINISHED:
            row.notes.append(f"finished before all kills: {row.faults} done")
            break
        time.sleep(RNG.uniform(1.0, 4.0))
        operator.kill()
        row.faults += 1
        operator.start()
    judge(row, workflows, name, expected, started=started, fault_ended=time.monotonic())
    row.ok = ends_exact(row) and row.max_runs == 1
    assert row.ok, row


@pytest.mark.parametrize("seconds", [15, 60] if FULL else [15])
def test_api_server_down(chaos_report: Report, cluster: Cluster, workflows: Workflows, seconds: int) -> None:
    row = Row(f"kube-apiserver down {seconds} s", "Succeeded, exact, every task run once")
    run = start(chaos_report, workflows, row, f"api-down-{seconds}", done_before_fault=SIZE // 4)
    name, expected, started = run.name, run.expected, run.started
    with component_down(cluster, "kube-apiserver", seconds):
        row.faults = 1
    fault_ended = time.monotonic()
    judge(row, workflows, name, expected, started=started, fault_ended=fault_ended)
    row.ok = ends_exact(row) and row.max_runs == 1
    assert row.ok, row


def test_redis_restarted_with_its_data(chaos_report: Report, cluster: Cluster, workflows: Workflows) -> None:
    """The local Redis keeps an append-only file, as the chart's does: a restart (10 s down)
    loses nothing. Task pods ride it out (they retry for 30 s); nothing is left waiting."""
    row = Row("redis-server restarted (AOF, 10 s down)", "Succeeded, exact")
    run = start(chaos_report, workflows, row, "redis-restart", done_before_fault=SIZE // 4)
    name, expected, started = run.name, run.expected, run.started
    with component_down(cluster, "redis", 10, signal.SIGTERM):  # shut down as a pod is: AOF flushed
        row.faults = 1
    fault_ended = time.monotonic()
    judge(row, workflows, name, expected, started=started, fault_ended=fault_ended)
    if row.runs_over_one:
        row.notes.append(f"{row.runs_over_one} task(s) retried (a pod that could not report in time)")
    row.ok = ends_exact(row)
    assert row.ok, row


def test_redis_flushed(
    chaos_report: Report, cluster: Cluster, workflows: Workflows, operator: OperatorProcess
) -> None:
    """State really lost: the workflow ends Failed saying so, within the reconcile interval
    (30 s) of the loss, and no attempt of it is left running."""
    row = Row("redis FLUSHALL mid-run", "Failed (StateLostError) within 30 s, nothing left running")
    run = start(chaos_report, workflows, row, "redis-flushed", done_before_fault=SIZE // 4)
    name, started = run.name, run.started
    client = redis.Redis.from_url(cluster.redis_url)
    try:
        client.flushall()
    finally:
        client.close()
    row.faults = 1
    fault_ended = time.monotonic()
    status = workflows.wait_finished(name, timeout=120)["status"]
    row.phase, row.message = status["phase"], str(status.get("message") or "")[:200]
    row.recovered_s, row.total_s = time.monotonic() - fault_ended, time.monotonic() - started

    def running_pods() -> list[str]:
        return [
            pod["metadata"]["name"]
            for pod in workflows.pods(name)
            if pod["status"].get("phase") in ("Pending", "Running")
            and not pod["metadata"].get("deletionTimestamp")
        ]

    deadline = time.monotonic() + 60
    while running_pods() and time.monotonic() < deadline:
        time.sleep(1)
    row.unfinished = len(running_pods())
    row.ok = (
        status["phase"] == "Failed"
        and (status.get("error") or {}).get("type") == "StateLostError"
        and row.recovered_s <= 30 + 15
        and row.unfinished == 0
    )
    assert row.ok, row


def test_task_pods_deleted_mid_run(chaos_report: Report, cluster: Cluster, workflows: Workflows) -> None:
    """Evictions: running task pods deleted at random are lost workers, retried per policy."""
    deletions = 20 if FULL else 3
    row = Row(f"task pods deleted x{deletions}", "Succeeded, exact, retried per policy")
    run = start(chaos_report, workflows, row, "pods-deleted", done_before_fault=1)
    name, expected, started = run.name, run.expected, run.started
    while row.faults < deletions and phase_of(workflows, name) not in FINISHED:
        running = [pod for pod in workflows.pods(name) if pod["status"].get("phase") == "Running"]
        if not running:
            time.sleep(0.2)
            continue
        victim = RNG.choice(running)["metadata"]["name"]
        cluster.kubectl(
            "delete", "pod", victim, "-n", workflows.namespace, "--grace-period=0", "--force", check=False
        )
        row.faults += 1
        time.sleep(RNG.uniform(0.5, 2.0))
    judge(row, workflows, name, expected, started=started, fault_ended=time.monotonic())
    row.ok = ends_exact(row) and row.max_runs <= 4  # retries=3
    assert row.ok, row


HOG_TASKS = """
import os


def add_after_oom(x, y, megabytes):
    \"\"\"x + y, but over any small memory limit on a first attempt: the kernel's OOM killer.\"\"\"
    if os.environ.get("KUBECANVAS_ATTEMPT") == "1":
        hog = bytearray(megabytes * 1024 * 1024)
        return len(hog)
    return x + y
"""


def test_task_pods_oom_killed(chaos_report: Report, workflows: Workflows, tmp_path: Path) -> None:
    """Header tasks over their memory limit on their first attempt: OOM-killed, each retried
    once per its policy, with the kernel's reason; every other task runs once; exact."""
    hogs = 10 if FULL else 2
    row = Row(f"task pods OOM-killed x{hogs}", "Succeeded, exact, OOM-killed tasks run twice, the rest once")
    chaos_report.rows.append(row)
    (tmp_path / "hogtasks.py").write_text(HOG_TASKS)
    workflows.config_map_from("chaostasks", [EXAMPLES / "conftasks.py", tmp_path / "hogtasks.py"])
    hogging = set(RNG.sample(range(SIZE), hogs))
    limits = {"resources": {"limits": {"memory": "128Mi"}}, "retries": {"max": 3, "delay": 0}}
    header = [
        {"task": "hogtasks.add_after_oom", "args": [i, i, 512], "options": limits}
        if i in hogging
        else sig("add", i, i, retries={"max": 3})
        for i in range(SIZE)
    ]
    canvas = {"chord": {"header": header, "body": sig("tsum", retries={"max": 3})}}
    manifest = workflow(
        "oom-killed", canvas, parallelism=PARALLELISM, code={"configMap": {"name": "chaostasks"}}
    )
    started = time.monotonic()
    name = workflows.apply(manifest)
    row.faults = hogs
    judge(row, workflows, name, sum(2 * i for i in range(SIZE)), started=started, fault_ended=started)
    tasks = workflows.document(name)["tasks"]
    hogged = [int(task["attempts"]) for task in tasks if task["task"] == "hogtasks.add_after_oom"]
    others = [int(task["attempts"]) for task in tasks if task["task"] != "hogtasks.add_after_oom"]
    reasons = {str((task.get("error") or {}).get("message") or "") for task in tasks}
    row.notes.append(f"attempts of the OOM-killed tasks: {sorted(hogged)}")
    row.ok = ends_exact(row) and hogged == [2] * hogs and set(others) == {1}
    assert row.ok, (row, reasons)


@pytest.mark.skipif(not FULL, reason="test_node_faults restarts the kubelet in `make test`")
def test_kubelet_restarted(chaos_report: Report, cluster: Cluster, workflows: Workflows) -> None:
    row = Row("kubelet killed and restarted", "Succeeded, exact")
    run = start(chaos_report, workflows, row, "kubelet-restart", done_before_fault=SIZE // 4)
    name, expected, started = run.name, run.expected, run.started
    with component_down(cluster, "kubelet", 5):
        row.faults = 1
    judge(row, workflows, name, expected, started=started, fault_ended=time.monotonic())
    row.ok = ends_exact(row)
    assert row.ok, row


# ------------------------------------------------------------------------------ faults


class component_down:  # noqa: N801 - used as `with component_down(...)`, a context manager
    """A local-cluster process stopped (SIGKILL: a crash, or SIGTERM: a shutdown) for `seconds`,
    then started again by `hack/cluster.py up`, which waits until it is healthy."""

    def __init__(
        self, cluster: Cluster, name: str, seconds: float, stop: signal.Signals = signal.SIGKILL
    ) -> None:
        self.cluster, self.name, self.seconds, self.stop = cluster, name, seconds, stop

    def __enter__(self) -> component_down:
        pid = int(json.loads((STATE / "pids" / f"{self.name}.pid").read_text())["pid"])
        os.kill(pid, self.stop)
        wait_until(lambda: not pid_alive(pid), timeout=60, what=f"{self.name} to exit")
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(self.seconds)
        cluster_command("up")
