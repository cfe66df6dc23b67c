"""Warm runners on the real cluster (operator/runners.py, runtime/runner.py): tasks with
`runner: warm` run in forked processes of long-lived runner pods, with the semantics of a
pod per task — a runner killed mid-task retries that task per its policy and loses no
other, a pool that cannot be scheduled fails its tasks saying why, revoke kills, an idle
pool scales to zero."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from e2e.conftest import CONFTASKS
from kubecanvas.resources import RUNNER_POOL_LABEL, TASK_ID_LABEL
from kubecanvas.store.hostside import WorkflowStore, connect_async
from support.cluster import Cluster, processes_of_pod
from support.operator import Workflows
from support.waiting import wait_until

WARM = {"runner": "warm"}
KUBECANVAS = Path(sys.executable).parent / "kubecanvas"


def workflow(name: str, canvas: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"canvas": canvas, "code": CONFTASKS, "defaults": WARM, **spec},
    }


def sig(task: str, *args: Any, **options: Any) -> dict[str, Any]:
    signature: dict[str, Any] = {"task": f"conftasks.{task}", "args": list(args)}
    if options:
        signature["options"] = options
    return signature


def runner_jobs(workflows: Workflows, name: str) -> list[dict[str, Any]]:
    return [job for job in workflows.jobs(name) if RUNNER_POOL_LABEL in job["metadata"]["labels"]]


def events_of(workflows: Workflows, selector: str) -> list[dict[str, Any]]:
    listed = workflows.cluster.kubectl(
        "get", "events", "-n", workflows.namespace, "--field-selector", selector, "-o", "json"
    )
    return list(json.loads(listed)["items"])


def held(workflows: Workflows, uid: str) -> dict[str, list[str]]:
    """What each runner of the workflow holds, from Redis: runner name -> task ids."""

    async def read() -> dict[str, list[str]]:
        client = connect_async(workflows.redis_url)
        try:
            store = WorkflowStore(client)
            return {
                name: [item.task_id for item in await store.held(uid, name)]
                for name in await store.runners(uid)
            }
        finally:
            await client.aclose()

    return asyncio.run(read())


def test_a_warm_chain_runs_in_one_runner_pod_and_no_job_per_task(workflows: Workflows) -> None:
    steps = [sig("add", 1, 1)] + [sig("add", i) for i in range(2, 12)]
    name = workflows.apply(workflow("warm-chain", {"chain": steps}))
    status = workflows.wait_finished(name)["status"]
    assert status["phase"] == "Succeeded", status["message"]
    assert status["result"] == 2 + sum(range(2, 12))
    tasks = workflows.document(name)["tasks"]
    assert [task["attempts"] for task in tasks] == [1] * 11
    # One step at a time: one runner ran them all, and no task had a Job of its own.
    assert all(TASK_ID_LABEL not in job["metadata"]["labels"] for job in workflows.jobs(name))
    created = {
        event["involvedObject"]["name"]
        for event in events_of(workflows, "reason=SuccessfulCreate")
        if event["involvedObject"]["kind"] == "Job"
    }
    assert len(created) == 1, created  # the Job controller made one pod: the runner's
    # `kubecanvas logs`: each task's lines, from its runner's pod (kept a while, as a task's)
    environ = {"KUBECONFIG": str(workflows.cluster.kubeconfig), "KUBECANVAS_REDIS_URL": workflows.redis_url}
    shown = subprocess.run(
        [str(KUBECANVAS), "logs", name, "-n", workflows.namespace],
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "==> t3 conftasks.add, attempt 1 (warm runner pod " in shown.stdout
    assert "running conftasks.add (task t3 attempt 1 of workflow" in shown.stdout
    # the runner saw its workflow end and exited cleanly: Complete, not Failed
    wait_until(
        lambda: all(not (job.get("status") or {}).get("active") for job in runner_jobs(workflows, name)),
        timeout=30,
        what="the runner to exit",
    )
    conditions = [
        condition["type"]
        for job in runner_jobs(workflows, name)
        for condition in (job.get("status") or {}).get("conditions") or []
        if condition.get("status") == "True"
    ]
    assert "Failed" not in conditions, conditions


def test_a_warm_runner_killed_mid_task_retries_that_task_once_and_loses_no_other(
    cluster: Cluster, workflows: Workflows
) -> None:
    group = [sig("sleep", 20, retries={"max": 1, "delay": 0})] + [sig("sleep", 2) for _ in range(4)]
    name = workflows.apply(workflow("warm-killed", {"group": group}))
    uid = workflows.get(name)["metadata"]["uid"]

    def runner_of_the_long_task() -> str | None:
        return next((runner for runner, tasks in held(workflows, uid).items() if "t0" in tasks), None)

    runner = wait_until(runner_of_the_long_task, timeout=90, what="a runner to take the long task")

    def pid() -> int | None:
        pods = [pod for pod in workflows.pods(name) if pod["metadata"]["labels"].get("job-name") == runner]
        if not pods or pods[0]["status"].get("phase") != "Running":
            return None
        pids = processes_of_pod(pods[0]["metadata"]["name"])
        return min(pids) if len(pids) >= 2 else None  # the runner, with the task's process under it

    os.kill(wait_until(pid, timeout=60, what="the runner's processes"), signal.SIGKILL)
    status = workflows.wait_finished(name, timeout=180)["status"]
    assert status["phase"] == "Succeeded", status["message"]
    assert status["result"] == [20, 2, 2, 2, 2]
    tasks = workflows.document(name)["tasks"]
    assert [task["attempts"] for task in tasks] == [2, 1, 1, 1, 1]  # only the lost one ran again


def test_a_warm_runner_killed_mid_task_without_retries_fails_the_task_as_lost(workflows: Workflows) -> None:
    name = workflows.apply(workflow("warm-lost", sig("sleep", 30)))
    uid = workflows.get(name)["metadata"]["uid"]
    runner = wait_until(
        lambda: next((runner for runner, tasks in held(workflows, uid).items() if tasks), None),
        timeout=90,
        what="a runner to take the task",
    )
    workflows.cluster.kubectl(
        "delete", "pod", "-n", workflows.namespace, "-l", f"job-name={runner}", "--grace-period=0", "--force"
    )
    status = workflows.wait_finished(name, timeout=120)["status"]
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "WorkerLostError", status["error"]
    assert runner in status["error"]["message"]


def test_a_warm_pool_that_cannot_be_scheduled_fails_its_tasks_saying_why(workflows: Workflows) -> None:
    """The suite's operator gives an unschedulable pod 5 s (300 s in production)."""
    nowhere = {"nodeSelector": {"kubecanvas.io/no-such-node": "true"}}
    name = workflows.apply(
        workflow("warm-nowhere", {"group": [sig("add", 1, 1, **nowhere), sig("add", 2, 2, **nowhere)]})
    )
    status = workflows.wait_finished(name, timeout=120)["status"]
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "Unschedulable"
    assert "node(s) didn't match Pod's node affinity/selector" in status["error"]["message"]
    reasons = {event["reason"] for event in events_of(workflows, f"involvedObject.name={name}")}
    assert {"RunnerPending", "RunnerCannotStart"} <= reasons, reasons
    wait_until(lambda: not runner_jobs(workflows, name), timeout=60, what="the runner's Job to go")


def test_revoking_a_warm_workflow_kills_its_running_task_and_its_runners_go(workflows: Workflows) -> None:
    name = workflows.apply(workflow("warm-revoked", sig("sleep", 60)))
    wait_until(
        lambda: workflows.document(name)["tasks"][0]["state"] == "STARTED",
        timeout=90,
        what="the task to start",
    )
    workflows.cluster.kubectl(
        "patch", "workflow", name, "-n", workflows.namespace, "--type=merge", "-p", '{"spec":{"revoke":true}}'
    )
    status = workflows.wait_finished(name, timeout=30)["status"]
    assert status["phase"] == "Revoked"
    assert workflows.document(name)["tasks"][0]["state"] == "REVOKED"
    wait_until(lambda: not workflows.pods(name), timeout=60, what="the runner's pod to go")


def test_an_idle_pool_scales_to_zero_and_starts_again_for_the_next_task(workflows: Workflows) -> None:
    """The suite's operator lets a runner idle 3 s (60 s in production)."""
    name = workflows.apply(workflow("warm-idle", {"chain": [sig("add", 1, 1), sig("add", 1, countdown=20)]}))
    wait_until(
        lambda: workflows.document(name)["tasks"][0]["state"] == "SUCCESS", timeout=90, what="the first task"
    )
    wait_until(
        lambda: workflows.get(name)["status"]["phase"] == "Running" and not workflows.pods(name),
        timeout=30,
        what="the idle runner to exit while the workflow waits",
    )
    status = workflows.wait_finished(name, timeout=90)["status"]
    assert status["phase"] == "Succeeded", status["message"]
    assert status["result"] == 3
