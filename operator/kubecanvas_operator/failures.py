"""What Kubernetes says about a task attempt that did not report to Redis.

A runtime that finishes always writes its outcome before it exits, so a Job that
failed without an outcome means the pod was killed, ran out of memory, was evicted,
hit its deadline, or never started. These are pure functions of the Job and pod
JSON, so they are tested without a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubecanvas.engine.states import TaskFailure
from kubecanvas.errors import TimeLimitExceeded, WorkerLostError

__all__ = ["AttemptFailure", "job_failure", "pod_start_failure", "unschedulable_since"]


# Waiting reasons a pod does not recover from without someone changing its spec.
STUCK_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)


@dataclass(frozen=True, slots=True)
class AttemptFailure:
    """A failure and whether it counts as a lost worker (retried whatever autoretryFor says)."""

    error: TaskFailure
    lost: bool


def _lost(message: str) -> AttemptFailure:
    return AttemptFailure(TaskFailure.of(WorkerLostError, message), lost=True)


def job_failure(job: dict[str, Any], pods: list[dict[str, Any]]) -> AttemptFailure | None:
    """Why a Job failed, or None if it has not (yet) failed."""
    conditions = {c.get("type"): c for c in (job.get("status") or {}).get("conditions") or []}
    failed = conditions.get("Failed")
    if not failed or failed.get("status") != "True":
        return None
    if failed.get("reason") == "DeadlineExceeded":
        limit = (job.get("spec") or {}).get("activeDeadlineSeconds")
        return AttemptFailure(
            TaskFailure.of(
                TimeLimitExceeded,
                f"TimeLimitExceeded({limit}): the task's pod ran past its deadline and was killed",
            ),
            lost=False,
        )
    for pod in pods:
        described = _describe_pod_end(pod)
        if described:
            return _lost(described)
    reason = failed.get("reason") or "Failed"
    message = failed.get("message") or "the Job failed"
    return _lost(f"{reason}: {message} (no pod left to tell why)")


def _describe_pod_end(pod: dict[str, Any]) -> str | None:
    status = pod.get("status") or {}
    if status.get("reason") == "Evicted":
        return f"pod {pod['metadata']['name']} was evicted: {status.get('message', '')}".strip()
    for container in status.get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated")
        if not terminated:
            continue
        reason, code = terminated.get("reason") or "Error", terminated.get("exitCode")
        detail = f": {terminated['message']}" if terminated.get("message") else ""
        if reason == "OOMKilled":
            return f"pod {pod['metadata']['name']} ran out of memory (OOMKilled, exit code {code})"
        if isinstance(code, int) and code > 128:
            return f"pod {pod['metadata']['name']} was killed by signal {code - 128} ({reason}{detail})"
        return f"pod {pod['metadata']['name']} exited with code {code} ({reason}{detail}) without reporting"
    if status.get("phase") == "Failed":
        detail = f"{status.get('reason', '')} {status.get('message', '')}".strip()
        return f"pod {pod['metadata']['name']} failed: {detail}"
    return None


def unschedulable_since(pod: dict[str, Any]) -> tuple[float, str] | None:
    """When the scheduler last said it cannot place this pod, and why; None if it has not."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            since = condition.get("lastTransitionTime")
            at = datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp() if since else 0.0
            return at, condition.get("message") or "Unschedulable"
    return None


def pod_start_failure(pod: dict[str, Any], now: float, unschedulable_after: float) -> AttemptFailure | None:
    """A pod that will never start its task (bad image, missing Secret, no node to run on
    for `unschedulable_after` seconds, ...)."""
    unschedulable = unschedulable_since(pod)
    if unschedulable is not None and now - unschedulable[0] >= unschedulable_after:
        message = f"the task's pod cannot be scheduled (for {unschedulable_after:g}s): {unschedulable[1]}"
        return AttemptFailure(
            TaskFailure("Unschedulable", message, None, ("Unschedulable", "Exception")), lost=False
        )
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in STUCK_REASONS:
            message = waiting.get("message") or reason
            return AttemptFailure(
                TaskFailure(
                    reason, f"the task's container cannot start: {message}", None, (reason, "Exception")
                ),
                lost=False,
            )
    return None
