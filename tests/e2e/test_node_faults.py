"""What a real node does to task pods, and what the Workflow says about it: memory limits,
pods deleted mid-run, images that cannot be pulled, pods no node can take, a kubelet
restart, and the restricted pod every task runs in."""

from __future__ import annotations

import json
import os
import signal
import textwrap
from pathlib import Path
from typing import Any

from e2e.conftest import write_wheel
from e2e.test_operator import sig, workflow
from support.cluster import STATE, Cluster, cluster_command, pid_alive
from support.operator import Workflows
from support.waiting import wait_until

PROBE_TASKS = textwrap.dedent(
    """
    import os

    def vanish(reason):
        import sys
        print(reason, file=sys.stderr, flush=True)
        os._exit(9)  # as a crashing extension would: no report, no Python traceback

    def hog(megabytes):
        block = bytearray(megabytes * 1024 * 1024)
        return len(block)

    def whoami():
        try:
            open("/probe", "w").close()
            root_writable = True
        except OSError:
            root_writable = False
        with open("/tmp/scratch", "w") as scratch:
            scratch.write("ok")
        return {
            "uid": os.getuid(),
            "gid": os.getgid(),
            "rootWritable": root_writable,
            "token": os.path.exists("/var/run/secrets/kubernetes.io/serviceaccount/token"),
        }
    """
)


def _first_attempt_pod(workflows: Workflows, name: str) -> dict[str, Any] | None:
    pods = [p for p in workflows.pods(name) if p["metadata"]["labels"]["kubecanvas.io/attempt"] == "1"]
    return pods[0] if pods and pods[0]["status"].get("phase") == "Running" else None


def test_a_task_over_its_memory_limit_is_oom_killed_and_retried_with_the_reason(
    workflows: Workflows, tmp_path: Path
) -> None:
    (tmp_path / "probetasks.py").write_text(PROBE_TASKS)
    workflows.config_map_from("probetasks", [tmp_path / "probetasks.py"])
    hog = {
        "task": "probetasks.hog",
        "args": [300],
        "options": {"resources": {"limits": {"memory": "64Mi"}}, "retries": {"max": 1, "delay": 0}},
    }
    name = workflows.apply(workflow("oom", hog, code={"configMap": {"name": "probetasks"}}))

    status = workflows.wait_finished(name, timeout=120)["status"]

    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "WorkerLostError"
    assert "OOMKilled" in status["error"]["message"]
    [task] = workflows.document(name)["tasks"]
    assert task["attempts"] == 2  # retried once, as its policy says, then failed


def test_a_pod_that_ended_without_reporting_is_explained_with_its_last_words(
    workflows: Workflows, tmp_path: Path
) -> None:
    """The kubelet keeps the tail of a failed container's log as its termination message
    (FallbackToLogsOnError, on a non-root pod with a read-only root): the error quotes it."""
    (tmp_path / "probetasks.py").write_text(PROBE_TASKS)
    workflows.config_map_from("probetasks", [tmp_path / "probetasks.py"])
    task = {"task": "probetasks.vanish", "args": ["libfoo: cannot map /dev/shm"]}
    name = workflows.apply(workflow("vanish", task, code={"configMap": {"name": "probetasks"}}))

    status = workflows.wait_finished(name, timeout=120)["status"]

    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "WorkerLostError"
    assert status["error"]["message"].endswith(
        "exited with code 9 (Error) without reporting; it said: libfoo: cannot map /dev/shm"
    ), status["error"]


def test_a_task_pod_deleted_mid_run_is_retried(cluster: Cluster, workflows: Workflows) -> None:
    name = workflows.apply(workflow("evicted", sig("sleep", 6, retries={"max": 2, "delay": 0})))
    pod = wait_until(lambda: _first_attempt_pod(workflows, name), timeout=60, what="the first attempt to run")

    # As an eviction does: SIGTERM, then SIGKILL when the (short) grace period is over.
    pod_name = pod["metadata"]["name"]
    cluster.kubectl("delete", "pod", pod_name, "-n", workflows.namespace, "--grace-period=1", "--wait=false")

    status = workflows.wait_finished(name, timeout=120)["status"]
    assert (status["phase"], status["result"]) == ("Succeeded", 6)
    assert workflows.document(name)["tasks"][0]["attempts"] == 2


def test_an_image_that_cannot_be_pulled_fails_the_task_with_the_kubelets_reason(workflows: Workflows) -> None:
    missing = "ghcr.io/kubecanvas/no-such-image:0"
    name = workflows.apply(workflow("no-image", sig("add", 1, 1, image=missing)))

    status = workflows.wait_finished(name, timeout=120)["status"]

    assert status["phase"] == "Failed"
    assert status["error"]["type"] in ("ErrImagePull", "ImagePullBackOff")
    assert "no-such-image" in status["error"]["message"]
    wait_until(lambda: not workflows.jobs(name), timeout=30, what="the stuck Job to be deleted")


def test_a_pod_no_node_can_take_fails_the_task_with_the_schedulers_reason(workflows: Workflows) -> None:
    huge = {"requests": {"memory": "64Ti"}}
    name = workflows.apply(workflow("unschedulable", sig("add", 1, 1, resources=huge)))

    status = workflows.wait_finished(name, timeout=120)["status"]

    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "Unschedulable"
    assert "Insufficient memory" in status["error"]["message"]


def test_a_workflow_finishes_across_a_kubelet_restart(cluster: Cluster, workflows: Workflows) -> None:
    steps = [sig("sleep", 2)] + [sig("add", 1) for _ in range(3)]
    name = workflows.apply(workflow("kubelet-restart", {"chain": steps}))
    wait_until(lambda: _first_attempt_pod(workflows, name), timeout=60, what="the first task to run")

    kubelet = int(json.loads((STATE / "pids" / "kubelet.pid").read_text())["pid"])
    os.kill(kubelet, signal.SIGKILL)
    wait_until(lambda: not pid_alive(kubelet), timeout=30, what="the kubelet to exit")
    cluster_command("up")

    status = workflows.wait_finished(name, timeout=180)["status"]
    assert (status["phase"], status["result"]) == ("Succeeded", 5)
    assert [task["attempts"] for task in workflows.document(name)["tasks"]] == [1] * 4


def test_a_task_runs_non_root_on_a_read_only_root_with_no_api_token(
    workflows: Workflows, wheel_server: tuple[str, Path]
) -> None:
    url, wheels = wheel_server
    write_wheel(wheels, "probetasks", "1.0", PROBE_TASKS)
    host = url.split("/")[2].split(":")[0]
    code = {"pip": {"packages": ["probetasks"], "findLinks": [url], "noIndex": True, "trustedHosts": [host]}}
    name = workflows.apply(workflow("restricted", {"task": "probetasks.whoami", "args": []}, code=code))

    status = workflows.wait_finished(name, timeout=120)["status"]

    assert status["phase"] == "Succeeded", status
    assert status["result"] == {"uid": 10001, "gid": 10001, "rootWritable": False, "token": False}
    [job] = workflows.jobs(name)
    spec = job["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
