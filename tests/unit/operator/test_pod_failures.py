"""What Kubernetes says about a task pod that never starts, as a task failure: pure JSON in,
failure out (operator/failures.py)."""

from __future__ import annotations

from typing import Any

from kubecanvas.execution.exit_codes import EXIT_STORE_UNREACHABLE
from kubecanvas_operator.failures import (
    check_pod_start,
    job_failure,
    unschedulable_since,
    waiting_for_capacity,
)

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
UNSCHEDULABLE = "0/1 nodes are available: 1 Insufficient memory."


TOO_MANY_PODS = (
    "0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: "
    "1 No preemption victims found for incoming pod."
)


def unschedulable_pod(since: str = "2027-01-15T07:59:00Z", message: str = UNSCHEDULABLE) -> dict[str, Any]:
    condition = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
        "lastTransitionTime": since,
    }
    return {"metadata": {"name": "p"}, "status": {"phase": "Pending", "conditions": [condition]}}


def test_an_unschedulable_pod_is_a_failure_only_after_the_timeout() -> None:
    pod = unschedulable_pod()  # unschedulable for 60 s at NOW
    assert unschedulable_since(pod) == (NOW - 60, UNSCHEDULABLE)
    waiting = check_pod_start(pod, NOW, 300, capacity_is_ours=False)
    assert waiting.failure is None
    assert waiting.look_again_at == NOW - 60 + 300

    failure = check_pod_start(pod, NOW, 30, capacity_is_ours=False).failure

    assert failure is not None
    assert not failure.lost
    assert failure.error.type == "Unschedulable"
    assert UNSCHEDULABLE in failure.error.message
    assert "30s" in failure.error.message


def test_a_full_node_is_waited_for_while_the_workflows_own_attempts_fill_it() -> None:
    """A chord of 1000 under parallelism 100 filled the node (Too many pods) with its own
    pods; they make room as they finish, so waiting is right, however long it takes."""
    pod = unschedulable_pod(since="2027-01-15T07:00:00Z", message=TOO_MANY_PODS)  # an hour ago
    check = check_pod_start(pod, NOW, 300, capacity_is_ours=True)
    assert check.failure is None
    assert check.look_again_at == NOW + 60
    alone = check_pod_start(pod, NOW, 300, capacity_is_ours=False)
    assert alone.failure is not None  # nothing of ours will make room: the timeout holds
    assert "Too many pods" in alone.failure.error.message


def test_which_scheduler_reasons_only_say_the_node_is_full() -> None:
    assert waiting_for_capacity(TOO_MANY_PODS)
    assert waiting_for_capacity("0/1 nodes are available: 1 Insufficient memory.")
    assert waiting_for_capacity("0/3 nodes are available: 1 Insufficient cpu, 2 Too many pods.")
    assert not waiting_for_capacity(
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector."
    )
    assert not waiting_for_capacity("0/1 nodes are available: 1 node(s) had untolerated taint {a: b}.")
    assert not waiting_for_capacity("Unschedulable")


def test_a_scheduled_pod_is_not_unschedulable() -> None:
    pod = {"status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}}
    assert unschedulable_since(pod) is None
    assert check_pod_start(pod, NOW, 0, capacity_is_ours=False) == check_pod_start(
        pod, NOW, 0, capacity_is_ours=True
    )
    assert check_pod_start(pod, NOW, 0, capacity_is_ours=False).failure is None


def pulling_pod(reason: str, message: str, created: str = "2027-01-15T07:59:30Z") -> dict[str, Any]:
    waiting = {"reason": reason, "message": message}
    return {
        "metadata": {"name": "p", "creationTimestamp": created},
        "status": {"containerStatuses": [{"state": {"waiting": waiting}}]},
    }


def test_an_image_that_does_not_exist_fails_at_once_naming_the_kubelets_reason() -> None:
    message = (
        'Back-off pulling image "nope:1": ErrImagePull: failed to pull and unpack image "nope:1": '
        'failed to resolve reference "nope:1": nope:1: not found'
    )
    failure = check_pod_start(
        pulling_pod("ImagePullBackOff", message), NOW, 300, capacity_is_ours=True
    ).failure

    assert failure is not None
    assert failure.error.type == "ImagePullBackOff"
    assert 'Back-off pulling image "nope:1"' in failure.error.message


def test_a_passing_pull_error_is_given_the_timeout() -> None:
    """The kubelet limits its own pulls (5 a second): a hundred pods starting at once meet
    'pull QPS exceeded', and the kubelet pulls again. It failed 9 tasks of a 1000-task chord."""
    pod = pulling_pod("ErrImagePull", "pull QPS exceeded")  # created 30 s before NOW
    waiting = check_pod_start(pod, NOW, 300, capacity_is_ours=False)
    assert waiting.failure is None
    assert waiting.look_again_at == NOW - 30 + 300
    failure = check_pod_start(pod, NOW + 300, 300, capacity_is_ours=False).failure
    assert failure is not None
    assert failure.error.type == "ErrImagePull"
    assert "pull QPS exceeded" in failure.error.message


def test_a_missing_configmap_fails_at_once_an_unreadable_one_is_given_the_timeout() -> None:
    """The task's code (or its Redis password) comes from a ConfigMap (a Secret) the kubelet
    reads: one that does not exist never will; one the kubelet could not read (the API
    server restarting) is read at a later sync."""
    missing = pulling_pod("CreateContainerConfigError", 'configmap "tasks" not found')
    failure = check_pod_start(missing, NOW, 300, capacity_is_ours=False).failure
    assert failure is not None
    assert failure.error.message == 'the task\'s container cannot start: configmap "tasks" not found'
    unread = pulling_pod(
        "CreateContainerConfigError", "failed to sync configmap cache: timed out waiting for the condition"
    )
    waiting = check_pod_start(unread, NOW, 300, capacity_is_ours=False)
    assert (waiting.failure, waiting.look_again_at) == (None, NOW - 30 + 300)
    late = check_pod_start(unread, NOW + 300, 300, capacity_is_ours=False).failure
    assert late is not None
    assert late.error.type == "CreateContainerConfigError"


def test_a_configmap_file_too_big_for_the_environment_is_explained() -> None:
    job, pods = failed_job_with_pod_exit(
        128, "failed to create containerd task: exec: argument list too long: unknown"
    )
    pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] = "StartError"
    failure = job_failure(job, pods)
    assert failure is not None
    assert "argument list too long" in failure.error.message
    assert (
        "a file of spec.code.configMap, which travels in the environment, must be smaller"
        in failure.error.message
    )


def failed_job_with_pod_exit(code: int, message: str = "") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    job = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}
    terminated: dict[str, Any] = {"reason": "Error", "exitCode": code}
    if message:
        terminated["message"] = message
    pod = {
        "metadata": {"name": "wf-t0-1-abcde"},
        "status": {"phase": "Failed", "containerStatuses": [{"state": {"terminated": terminated}}]},
    }
    return job, [pod]


def test_the_runtimes_last_words_are_quoted_from_the_termination_message() -> None:
    """What the runtime wrote to its termination file (or, on a crash, the log's tail the
    kubelet kept): the task's error says why, not only that it could not report."""
    said = "task t3 attempt 1 of workflow ns/wf: Redis at redis://r:6379/0 is unreachable after retrying"
    failure = job_failure(*failed_job_with_pod_exit(EXIT_STORE_UNREACHABLE, said + "\n"))
    assert failure is not None
    assert failure.error.message.endswith(
        f"could not reach Redis, where its inputs and outcome live; it said: {said}"
    )
    traceback = 'Traceback (most recent call last):\n  File "x.py", line 1\nMemoryError: ' + "x" * 500
    crashed = job_failure(*failed_job_with_pod_exit(1, traceback))
    assert crashed is not None
    quoted = crashed.error.message.split("; it said: ", 1)[1]
    assert len(quoted) == 300
    assert quoted.startswith("MemoryError: x")
    assert "Traceback" not in crashed.error.message  # only the last line: the exception


def test_a_runtime_that_could_not_reach_redis_says_so_and_is_retried_as_lost() -> None:
    failure = job_failure(*failed_job_with_pod_exit(EXIT_STORE_UNREACHABLE))
    assert failure is not None
    assert failure.lost
    assert failure.error.type == "WorkerLostError"
    assert "exited with code 75" in failure.error.message
    assert "could not reach Redis" in failure.error.message


def test_an_unexplained_exit_code_is_reported_as_it_is() -> None:
    failure = job_failure(*failed_job_with_pod_exit(9))
    assert failure is not None
    assert failure.error.message.endswith("exited with code 9 (Error) without reporting")
