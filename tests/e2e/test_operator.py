"""The operator on a real cluster: what a user sees through kubectl and `kubecanvas get`."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import pytest

from e2e.conftest import CONFTASKS
from support.cluster import Cluster, processes_of_pod
from support.operator import OperatorProcess, Workflows, wait_for_redis_keys_gone
from support.waiting import wait_until


def workflow(name: str, canvas: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"canvas": canvas, "code": CONFTASKS, **spec},
    }


def sig(task: str, *args: Any, **options: Any) -> dict[str, Any]:
    signature: dict[str, Any] = {"task": f"conftasks.{task}", "args": list(args)}
    if options:
        signature["options"] = options
    return signature


def test_chain_with_a_chord_runs_as_jobs_and_reports_its_result(workflows: Workflows) -> None:
    name = workflows.apply(
        workflow(
            "chain-chord",
            {
                "chain": [
                    sig("add", 2, 2),
                    {"chord": {"header": [sig("add", 1), sig("add", 2)], "body": sig("tsum")}},
                    sig("mul", 10),
                ]
            },
        )
    )
    body = workflows.wait_finished(name)
    status = body["status"]
    assert status["phase"] == "Succeeded", status["message"]
    assert status["result"] == 110
    assert status["progress"] == "5/5"
    assert status["counts"]["SUCCESS"] == 5
    document = workflows.document(name)
    assert document["phase"] == "Succeeded"
    assert document["result"] == 110
    assert [task["state"] for task in document["tasks"]] == ["SUCCESS"] * 5
    assert document["tasks"][3]["args"] == [[5, 6]]  # the chord body received the header's results
    assert all(
        task["attempts"] == 1 and task["startedAt"] and task["finishedAt"] for task in document["tasks"]
    )


def test_kubectl_get_workflows_shows_phase_progress_and_message(
    cluster: Cluster, workflows: Workflows
) -> None:
    name = workflows.apply(workflow("columns", sig("add", 2, 2)))
    workflows.wait_finished(name)
    table = cluster.kubectl("get", "kwf", name, "-n", workflows.namespace)
    header, row = table.splitlines()[:2]
    assert header.split()[:5] == ["NAME", "PHASE", "PROGRESS", "AGE", "DURATION"]
    assert row.split()[:3] == [name, "Succeeded", "1/1"]
    assert "all 1 tasks succeeded" in row


def test_an_invalid_workflow_fails_at_once_naming_the_field(cluster: Cluster, workflows: Workflows) -> None:
    name = workflows.apply(workflow("invalid", {"chain": [sig("add", 1, 1), {"chord": {"header": []}}]}))
    status = workflows.wait_finished(name)["status"]
    assert status["phase"] == "Failed"
    assert "spec.canvas.chain[1].chord: 'body' is required" in status["message"]
    events = json.loads(
        cluster.kubectl(
            "get",
            "events",
            "-n",
            workflows.namespace,
            "--field-selector",
            f"involvedObject.name={name}",
            "-o",
            "json",
        )
    )["items"]
    assert any(
        event["reason"] == "InvalidWorkflow" and "'body' is required" in event["message"] for event in events
    )


def test_a_queue_of_the_cluster_places_its_tasks_and_an_unknown_one_is_refused(workflows: Workflows) -> None:
    """The operator's queues (the chart's `tasks.queues`; the suite's operator has `marked`,
    which sets a variable): a task routed there runs with the queue's pod settings."""
    marked = {"task": "os.getenv", "args": ["QUEUE_MARK"], "options": {"queue": "marked"}}
    name = workflows.apply(workflow("queued", marked))
    status = workflows.wait_finished(name)["status"]
    assert (status["phase"], status["result"]) == ("Succeeded", "marked")
    unknown = workflows.apply(workflow("no-queue", {**marked, "options": {"queue": "gpu"}}))
    status = workflows.wait_finished(unknown)["status"]
    assert status["phase"] == "Failed"
    assert (
        "spec.canvas.options.queue: no queue 'gpu' on this cluster; its queues: marked" in status["message"]
    )


def test_a_failure_fails_its_dependents_and_names_the_root_cause(workflows: Workflows) -> None:
    name = workflows.apply(
        workflow("failing-chain", {"chain": [sig("add", 1, 2), sig("fail"), sig("add", 3, 4)]})
    )
    status = workflows.wait_finished(name)["status"]
    assert status["phase"] == "Failed"
    assert status["error"] == {
        "task": "conftasks.fail",
        "taskId": "t1",
        "type": "ExpectedException",
        "message": "Task expected to fail",
    }
    states = [task["state"] for task in workflows.document(name)["tasks"]]
    assert states[:2] == ["SUCCESS", "FAILURE"]
    assert states[2] in ("FAILURE", "REVOKED")


def test_a_killed_task_pod_is_retried(cluster: Cluster, workflows: Workflows) -> None:
    name = workflows.apply(workflow("killed", sig("sleep", 3, retries={"max": 2, "delay": 0})))

    def running_pid() -> int | None:
        pods = [
            pod for pod in workflows.pods(name) if pod["metadata"]["labels"]["kubecanvas.io/attempt"] == "1"
        ]
        if not pods or pods[0]["status"].get("phase") != "Running":
            return None
        pids = processes_of_pod(pods[0]["metadata"]["name"])
        return pids[0] if pids else None

    pid = wait_until(running_pid, timeout=60, what="the first attempt's process")
    os.kill(pid, signal.SIGKILL)
    status = workflows.wait_finished(name)["status"]
    assert status["phase"] == "Succeeded", status["message"]
    assert status["result"] == 3
    task = workflows.document(name)["tasks"][0]
    assert task["attempts"] == 2


def test_revoking_kills_the_running_task_and_removes_its_job(cluster: Cluster, workflows: Workflows) -> None:
    name = workflows.apply(workflow("revoked", sig("sleep", 30)))
    wait_until(
        lambda: workflows.document(name)["tasks"][0]["state"] == "STARTED",
        timeout=60,
        what="the task to start",
    )
    cluster.kubectl(
        "patch", "workflow", name, "-n", workflows.namespace, "--type=merge", "-p", '{"spec":{"revoke":true}}'
    )
    status = workflows.wait_finished(name, timeout=30)["status"]
    assert status["phase"] == "Revoked"
    assert workflows.document(name)["tasks"][0]["state"] == "REVOKED"
    wait_until(
        lambda: not workflows.jobs(name) and not workflows.pods(name),
        timeout=60,
        what="its Job and pod to go",
    )


def test_deleting_a_workflow_removes_its_jobs_pods_and_redis_keys(
    cluster: Cluster, workflows: Workflows
) -> None:
    name = workflows.apply(workflow("deleted", {"group": [sig("sleep", 30), sig("fail")]}))
    wait_until(lambda: len(workflows.pods(name)) == 2, timeout=60, what="both task pods")
    uid = workflows.get(name)["metadata"]["uid"]
    cluster.kubectl("delete", "workflow", name, "-n", workflows.namespace, "--wait=true")
    wait_until(
        lambda: not workflows.jobs(name) and not workflows.pods(name), timeout=90, what="Jobs and pods to go"
    )
    wait_for_redis_keys_gone(cluster.redis_url, uid)


def test_the_operator_killed_mid_chain_resumes_with_the_right_result(
    workflows: Workflows, operator: OperatorProcess
) -> None:
    steps = [sig("sleep", 1)] + [sig("add", 1) for _ in range(5)]
    name = workflows.apply(workflow("restarted", {"chain": steps}))
    wait_until(
        lambda: sum(task["state"] == "SUCCESS" for task in workflows.document(name)["tasks"]) >= 2,
        timeout=60,
        what="two tasks of the chain to succeed",
    )
    operator.kill()
    operator.start()
    status = workflows.wait_finished(name)["status"]
    assert status["phase"] == "Succeeded", status["message"]
    assert status["result"] == 6  # sleep(1) returns 1, then five times +1
    tasks = workflows.document(name)["tasks"]
    assert [task["attempts"] for task in tasks] == [1] * 6  # nothing ran twice


@pytest.mark.parametrize("size", [200])
def test_status_stays_small_for_a_large_group(workflows: Workflows, size: int) -> None:
    name = workflows.apply(
        workflow("large", {"group": [sig("add", i, i) for i in range(size)]}, parallelism=100)
    )
    body = workflows.wait_finished(name, timeout=300)
    assert body["status"]["phase"] == "Succeeded", body["status"]["message"]
    assert body["status"]["result"] == [2 * i for i in range(size)]
    without_result = {key: value for key, value in body["status"].items() if key != "result"}
    assert len(json.dumps(without_result)) < 2000  # per-task state lives in Redis, not in etcd


def test_a_task_whose_pod_cannot_start_fails_instead_of_hanging(workflows: Workflows) -> None:
    """A pod stuck before its task runs (here a missing Secret; on a real node also a bad
    image) fails the attempt with the kubelet's reason, rather than waiting forever."""
    missing = {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "no-such-secret", "key": "token"}}}
    name = workflows.apply(workflow("cannot-start", sig("add", 1, 1, env=[missing])))
    status = workflows.wait_finished(name, timeout=60)["status"]
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "CreateContainerConfigError"
    assert "no-such-secret" in status["error"]["message"]
    wait_until(lambda: not workflows.jobs(name), timeout=30, what="the stuck Job to be deleted")
