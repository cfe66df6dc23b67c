"""The foundation every kubecanvas test stands on: a real control plane running real Jobs.

These are the acceptance checks of the local cluster: Jobs run to completion or failure with the
right exit codes and logs, deadlines and deletions end processes, the garbage collector cleans
up, and the tools report their real versions.
"""

from __future__ import annotations

import json
import subprocess

from support.cluster import (
    ROOT,
    Cluster,
    container_status,
    job_condition,
    pinned,
    pods_of_job,
    processes_of_pod,
)
from support.manifests import container, job, pod
from support.waiting import wait_until


def test_job_completes_and_kubectl_logs_prints_its_output(cluster: Cluster, namespace: str) -> None:
    cluster.apply(job("answer", container(["python3", "-c", "print(6*7)"])), namespace)

    wait_until(lambda: job_condition(cluster, "answer", namespace, "Complete"), 60, "job answer to complete")
    assert cluster.kubectl("logs", "job/answer", "-n", namespace) == "42\n"


def test_failing_job_reports_the_exit_code(cluster: Cluster, namespace: str) -> None:
    cluster.apply(job("exit3", container(["python3", "-c", "raise SystemExit(3)"])), namespace)

    wait_until(lambda: job_condition(cluster, "exit3", namespace, "Failed"), 60, "job exit3 to fail")
    [failed] = pods_of_job(cluster, "exit3", namespace)
    terminated = container_status(failed)["state"]["terminated"]
    assert terminated["exitCode"] == 3
    assert terminated["reason"] == "Error"
    assert failed["status"]["phase"] == "Failed"


def test_job_deadline_fails_the_job_and_kills_its_process(cluster: Cluster, namespace: str) -> None:
    cluster.apply(job("slow", container(["sleep", "60"]), activeDeadlineSeconds=2), namespace)
    pod_name = wait_until(
        lambda: [p["metadata"]["name"] for p in pods_of_job(cluster, "slow", namespace)
                 if p["status"].get("phase") == "Running"],
        30,
        "the pod of job slow to run",
    )[0]  # fmt: skip
    assert processes_of_pod(pod_name), "the running pod should have a process"

    failed = wait_until(lambda: job_condition(cluster, "slow", namespace, "Failed"), 60, "job slow to fail")
    assert failed["reason"] == "DeadlineExceeded"
    wait_until(lambda: not processes_of_pod(pod_name), 30, f"the processes of pod {pod_name} to end")


def test_pod_deadline_fails_the_pod(cluster: Cluster, namespace: str) -> None:
    # `sleep` as pid 1 ignores SIGTERM: the kubelet kills it once the grace period is over.
    spec = {"activeDeadlineSeconds": 1, "terminationGracePeriodSeconds": 1}
    cluster.apply(pod("deadline", container(["sleep", "60"]), **spec), namespace)

    failed = wait_until(
        lambda: (p := cluster.get("pod", "deadline", namespace))["status"].get("phase") == "Failed" and p,
        30,
        "pod deadline to fail",
    )
    assert failed["status"]["reason"] == "DeadlineExceeded"
    assert container_status(failed)["state"]["terminated"]["exitCode"] == 137  # SIGKILL
    assert not processes_of_pod("deadline")


def test_deleting_a_running_pod_ends_its_process(cluster: Cluster, namespace: str) -> None:
    sleeper = pod(
        "sleeper", container(["sh", "-c", "sleep 60 & sleep 61; wait"]), terminationGracePeriodSeconds=1
    )
    cluster.apply(sleeper, namespace)
    wait_until(
        lambda: cluster.get("pod", "sleeper", namespace)["status"].get("phase") == "Running", 30, "Running"
    )
    assert len(processes_of_pod("sleeper")) == 3  # the shell and both sleeps

    cluster.kubectl("delete", "pod", "sleeper", "-n", namespace, "--wait=true", "--timeout=60s")

    assert not processes_of_pod("sleeper")


def test_deleting_a_job_removes_its_pods(cluster: Cluster, namespace: str) -> None:
    cluster.apply(job("doomed", container(["sleep", "60"])), namespace)
    wait_until(lambda: pods_of_job(cluster, "doomed", namespace), 30, "the pod of job doomed")

    cluster.kubectl("delete", "job", "doomed", "-n", namespace, "--cascade=background")

    wait_until(
        lambda: not pods_of_job(cluster, "doomed", namespace), 60, "the garbage collector to delete the pods"
    )


def test_kubectl_and_helm_report_the_pinned_versions(cluster: Cluster) -> None:
    versions = json.loads(cluster.kubectl("version", "-o", "json"))
    assert versions["serverVersion"]["gitVersion"] == pinned("K8S_VERSION")
    assert versions["clientVersion"]["gitVersion"] == pinned("K8S_VERSION")

    helm = subprocess.run(
        [str(ROOT / ".bin" / "helm"), "version", "--short"], capture_output=True, text=True, check=False
    )
    assert helm.returncode == 0, helm.stderr
    assert helm.stdout.startswith(pinned("HELM_VERSION"))
