"""What Kubernetes says about a task attempt that did not report to Redis.

A runtime that finishes always writes its outcome before it exits, so a Job that
failed without an outcome means the pod was killed, ran out of memory, was evicted,
hit its deadline, or never started. These are pure functions of the Job and pod
JSON, so they are tested without a cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubecanvas.engine.states import TaskFailure
from kubecanvas.errors import TimeLimitExceeded, WorkerLostError
from kubecanvas.execution.exit_codes import exit_meaning, last_words

__all__ = [
    "AttemptFailure",
    "StartCheck",
    "check_pod_start",
    "job_failure",
    "unschedulable_since",
    "waiting_for_capacity",
]


# Waiting reasons a pod does not recover from without someone changing its spec.
STUCK_REASONS = frozenset({"InvalidImageName", "CreateContainerConfigError", "CreateContainerError"})
# ... except a ConfigMap or Secret the kubelet could not read (the API server away: it tries
# again at each sync), which is given the start timeout; one that does not exist is stuck.
_CONFIG_UNREAD = "CreateContainerConfigError"
_MISSING = re.compile(r"\bnot found\b", re.IGNORECASE)
# Waiting reasons of an image pull, which the kubelet retries: some say the image will never
# come (it does not exist, access is denied), others are passing (the kubelet's own pull QPS
# limit, a registry timeout or restart) and are given the start timeout.
PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff"})
_NEVER_PULLED = re.compile(
    r"not found|manifest unknown|name unknown|unauthorized|denied|authentication required|"
    r"invalid reference format",
    re.IGNORECASE,
)
# A scheduler reason that only says the node is full for now: "1 Too many pods",
# "1 Insufficient memory". It frees up as the pods holding it finish.
_CAPACITY = re.compile(r"^\d+ (Too many pods|Insufficient [\w./-]+)\.?$")


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
        said = last_words(terminated.get("message") or "")
        quoted = f"; it said: {said}" if said else ""
        if "argument list too long" in (terminated.get("message") or ""):
            quoted += (
                " (each variable is at most 128 KiB: a file of spec.code.configMap, which travels in "
                "the environment, must be smaller; put larger code in git, a package or the image)"
            )
        if reason == "OOMKilled":
            return f"pod {pod['metadata']['name']} ran out of memory (OOMKilled, exit code {code})"
        if isinstance(code, int) and code > 128:
            return f"pod {pod['metadata']['name']} was killed by signal {code - 128} ({reason}){quoted}"
        meaning = exit_meaning(code if isinstance(code, int) else None)
        also = f": {meaning}" if meaning else ""
        name = pod["metadata"]["name"]
        return f"pod {name} exited with code {code} ({reason}) without reporting{also}{quoted}"
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
            return _since(condition.get("lastTransitionTime")), condition.get("message") or "Unschedulable"
    return None


def _since(timestamp: str | None) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() if timestamp else 0.0


def waiting_for_capacity(message: str) -> bool:
    """Whether every reason the scheduler gave is a full node (pods, cpu, memory, ...)."""
    text = message.split("preemption:", 1)[0]
    _, _, reasons = text.partition("nodes are available:")
    parts = [part.strip() for part in reasons.split(",") if part.strip()]
    return bool(parts) and all(_CAPACITY.match(part) for part in parts)


@dataclass(frozen=True, slots=True)
class StartCheck:
    """What to do about a pod that has not started: fail its attempt now (`failure`), or look
    again at `look_again_at` (no event may come before then), or nothing."""

    failure: AttemptFailure | None = None
    look_again_at: float | None = None


def _cannot_start(reason: str, message: str) -> StartCheck:
    return StartCheck(
        AttemptFailure(
            TaskFailure(reason, f"the task's container cannot start: {message}", None, (reason, "Exception")),
            lost=False,
        )
    )


def check_pod_start(pod: dict[str, Any], now: float, timeout: float, *, capacity_is_ours: bool) -> StartCheck:
    """A pod that will never start its task fails its attempt; one that may still start is
    given `timeout` seconds (a passing pull error since it was created; an unschedulable pod
    since the scheduler first said so), or, when it waits only for room on a node that this
    workflow's own running attempts fill (`capacity_is_ours`), as long as they run: they
    make the room as they finish, and parallelism is the user's to choose."""
    created = _since((pod.get("metadata") or {}).get("creationTimestamp"))
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason, message = waiting.get("reason"), waiting.get("message") or waiting.get("reason") or ""
        passing = reason == _CONFIG_UNREAD and not _MISSING.search(message)
        if reason in STUCK_REASONS and not passing:
            return _cannot_start(reason, message)
        if passing:
            if now - created >= timeout:
                return _cannot_start(_CONFIG_UNREAD, message)
            return StartCheck(look_again_at=created + timeout)
        if reason in PULL_REASONS:
            if _NEVER_PULLED.search(message) or now - created >= timeout:
                return _cannot_start(reason, message)
            return StartCheck(look_again_at=created + timeout)
    unschedulable = unschedulable_since(pod)
    if unschedulable is None:
        return StartCheck()
    since, message = unschedulable
    if capacity_is_ours and waiting_for_capacity(message):
        return StartCheck(look_again_at=now + min(timeout, 60.0))
    if now - since >= timeout:
        text = f"the task's pod cannot be scheduled (for {timeout:g}s): {message}"
        return StartCheck(
            AttemptFailure(
                TaskFailure("Unschedulable", text, None, ("Unschedulable", "Exception")), lost=False
            )
        )
    return StartCheck(look_again_at=since + timeout)
