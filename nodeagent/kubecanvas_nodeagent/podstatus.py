"""Build a Pod's status from what the agent knows about its containers, the way a kubelet reports it.

Pure functions over plain data: the phase rules, the conditions and their transition times, and
the container statuses that Jobs, Deployments, ``kubectl`` and Helm read are all unit-tested here
without processes or a cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kubecanvas_nodeagent.kubetypes import (
    ContainerState,
    ContainerStateTerminated,
    ContainerStateWaiting,
    ContainerStatus,
    PodCondition,
    PodIP,
    PodStatus,
)

NEVER = "Never"
ON_FAILURE = "OnFailure"
ALWAYS = "Always"


def format_time(moment: datetime) -> str:
    """Kubernetes' metav1.Time: RFC 3339 in UTC, whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Waiting:
    reason: str
    message: str = ""


@dataclass(frozen=True)
class Running:
    started_at: datetime


@dataclass(frozen=True)
class Terminated:
    exit_code: int
    reason: str
    finished_at: datetime
    started_at: datetime | None = None
    message: str = ""
    signal: int | None = None
    container_id: str = ""


State = Waiting | Running | Terminated


@dataclass
class ContainerView:
    """One container as the agent sees it: its current and previous state and probe results."""

    name: str
    image: str
    state: State = field(default_factory=lambda: Waiting("ContainerCreating"))
    last_state: Terminated | None = None
    restart_count: int = 0
    ready: bool = False
    started: bool = False
    container_id: str = ""


@dataclass(frozen=True)
class PodFailure:
    """Why the whole pod failed regardless of its containers (activeDeadlineSeconds, agent restart)."""

    reason: str
    message: str


@dataclass
class PodView:
    """Everything the status is computed from."""

    restart_policy: str
    init_containers: list[ContainerView]
    containers: list[ContainerView]
    host_ip: str
    start_time: datetime | None = None
    sandbox_ready: bool = False
    terminal: bool = False
    """No container will start again (the pod is being deleted or failed): the phase must settle."""
    failure: PodFailure | None = None
    message: str = ""


def _exit_ok(container: ContainerView) -> bool:
    return isinstance(container.state, Terminated) and container.state.exit_code == 0


def pod_phase(view: PodView) -> str:
    """The kubelet's phase rules, plus `terminal` for pods that will never run again."""
    if view.failure is not None:
        return "Failed"
    for init in view.init_containers:
        if _exit_ok(init):
            continue
        if view.terminal or (isinstance(init.state, Terminated) and view.restart_policy == NEVER):
            return "Failed"
        return "Pending"
    running = waiting = succeeded = failed = 0
    for container in view.containers:
        state = container.state
        if isinstance(state, Running):
            running += 1
        elif isinstance(state, Terminated):
            succeeded, failed = (succeeded + 1, failed) if state.exit_code == 0 else (succeeded, failed + 1)
        elif container.last_state is not None:  # waiting to restart after having run
            failed += 1 if container.last_state.exit_code else 0
            succeeded += 0 if container.last_state.exit_code else 1
        else:
            waiting += 1
    if view.terminal:
        return "Succeeded" if failed == 0 and waiting == 0 and running == 0 else "Failed"
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if view.restart_policy == ALWAYS:
        return "Running"
    if failed == 0:
        return "Succeeded"
    return "Failed" if view.restart_policy == NEVER else "Running"


def _state_json(state: State) -> ContainerState:
    if isinstance(state, Waiting):
        waiting: ContainerStateWaiting = {"reason": state.reason}
        if state.message:
            waiting["message"] = state.message
        return {"waiting": waiting}
    if isinstance(state, Running):
        return {"running": {"startedAt": format_time(state.started_at)}}
    terminated: ContainerStateTerminated = {
        "exitCode": state.exit_code,
        "reason": state.reason,
        "finishedAt": format_time(state.finished_at),
    }
    if state.started_at is not None:
        terminated["startedAt"] = format_time(state.started_at)
    if state.message:
        terminated["message"] = state.message
    if state.signal is not None:
        terminated["signal"] = state.signal
    if state.container_id:
        terminated["containerID"] = state.container_id
    return {"terminated": terminated}


def container_status(container: ContainerView) -> ContainerStatus:
    status: ContainerStatus = {
        "name": container.name,
        "image": container.image,
        # No image is pulled: the image reference is all there is to identify it.
        "imageID": container.image,
        "ready": container.ready,
        "started": container.started,
        "restartCount": container.restart_count,
        "state": _state_json(container.state),
        "lastState": _state_json(container.last_state) if container.last_state else {},
    }
    if container.container_id:
        status["containerID"] = container.container_id
    return status


def _condition(
    kind: str,
    ok: bool,
    previous: dict[str, PodCondition],
    now: datetime,
    *,
    reason: str = "",
    message: str = "",
) -> PodCondition:
    status = "True" if ok else "False"
    before = previous.get(kind)
    transition = (
        before["lastTransitionTime"]
        if before and before.get("status") == status and before.get("lastTransitionTime")
        else format_time(now)
    )
    # Reason and message are always sent, empty when cleared: the status is a strategic merge
    # patch, which would otherwise keep an old message on a condition that has since changed.
    return {
        "type": kind,
        "status": status,
        "reason": "" if ok else reason,
        "message": "" if ok else message,
        "lastProbeTime": None,
        "lastTransitionTime": transition,
    }


def pod_conditions(
    view: PodView, phase: str, previous: Sequence[PodCondition], now: datetime
) -> list[PodCondition]:
    """The conditions the kubelet owns (PodScheduled belongs to the scheduler and is left alone)."""
    before = {c.get("type", ""): c for c in previous}
    done = phase in ("Succeeded", "Failed")
    incomplete = [c.name for c in view.init_containers if not _exit_ok(c)]
    unready = [c.name for c in view.containers if not c.ready]
    ready = not unready and not done
    not_ready_reason = "PodCompleted" if done else "ContainersNotReady"
    not_ready_message = "" if done else f"containers with unready status: [{' '.join(unready)}]"
    return [
        _condition("PodReadyToStartContainers", view.sandbox_ready and not done, before, now),
        _condition(
            "Initialized",
            not incomplete,
            before,
            now,
            reason="ContainersNotInitialized",
            message=f"containers with incomplete status: [{' '.join(incomplete)}]",
        ),
        _condition("Ready", ready, before, now, reason=not_ready_reason, message=not_ready_message),
        _condition("ContainersReady", ready, before, now, reason=not_ready_reason, message=not_ready_message),
    ]


def build_status(view: PodView, previous_conditions: Sequence[PodCondition], now: datetime) -> PodStatus:
    """The full status subresource the agent patches onto the Pod."""
    phase = pod_phase(view)
    ips: list[PodIP] = [{"ip": view.host_ip}]
    status: PodStatus = {
        "phase": phase,
        "conditions": pod_conditions(view, phase, previous_conditions, now),
        "hostIP": view.host_ip,
        "hostIPs": ips,
        "podIP": view.host_ip,
        "podIPs": ips,
        "containerStatuses": [container_status(c) for c in view.containers],
    }
    if view.init_containers:
        status["initContainerStatuses"] = [container_status(c) for c in view.init_containers]
    if view.start_time is not None:
        status["startTime"] = format_time(view.start_time)
    if view.failure is not None:
        status["reason"] = view.failure.reason
        status["message"] = view.failure.message
    elif view.message:
        status["message"] = view.message
    return status
