"""Pod phase, conditions and container statuses, as a kubelet reports them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubecanvas_nodeagent.podstatus import (
    ContainerView,
    PodFailure,
    PodView,
    Running,
    Terminated,
    Waiting,
    build_status,
    pod_phase,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _running(name: str = "main", ready: bool = True) -> ContainerView:
    return ContainerView(name, "img", Running(T0), ready=ready, started=True, container_id="nodeagent://7")


def _exited(code: int, name: str = "main") -> ContainerView:
    return ContainerView(name, "img", Terminated(code, "Completed" if code == 0 else "Error", T0, T0))


def _crashlooping(last_code: int) -> ContainerView:
    view = ContainerView("main", "img", Waiting("CrashLoopBackOff"), restart_count=1)
    view.last_state = Terminated(last_code, "Error", T0, T0)
    return view


def _view(
    *containers: ContainerView, policy: str = "Never", init: list[ContainerView] | None = None
) -> PodView:
    return PodView(policy, init or [], list(containers), "127.0.0.1", start_time=T0, sandbox_ready=True)


@pytest.mark.parametrize(
    ("containers", "policy", "phase"),
    [
        ([ContainerView("main", "img")], "Never", "Pending"),
        ([_running()], "Never", "Running"),
        ([_exited(0)], "Never", "Succeeded"),
        ([_exited(3)], "Never", "Failed"),
        ([_exited(3), _running("b")], "Never", "Running"),
        ([_exited(0), _exited(1, "b")], "Never", "Failed"),
        ([_exited(1)], "OnFailure", "Running"),  # about to restart
        ([_exited(0)], "OnFailure", "Succeeded"),
        ([_exited(0)], "Always", "Running"),
        ([_crashlooping(1)], "Always", "Running"),
        ([_crashlooping(1)], "OnFailure", "Running"),
    ],
)
def test_phase(containers: list[ContainerView], policy: str, phase: str) -> None:
    assert pod_phase(_view(*containers, policy=policy)) == phase


def test_init_containers_gate_the_phase() -> None:
    assert pod_phase(_view(ContainerView("main", "img"), init=[_running("init")])) == "Pending"
    assert pod_phase(_view(ContainerView("main", "img"), init=[_exited(1, "init")])) == "Failed"
    assert (
        pod_phase(_view(ContainerView("main", "img"), init=[_exited(1, "init")], policy="OnFailure"))
        == "Pending"
    )
    assert pod_phase(_view(_running(), init=[_exited(0, "init")])) == "Running"


def test_terminal_and_failed_pods_settle() -> None:
    stopped = _view(ContainerView("main", "img"))
    stopped.terminal = True
    assert pod_phase(stopped) == "Failed"  # deleted before it ever ran
    done = _view(_exited(0), policy="Always")
    done.terminal = True
    assert pod_phase(done) == "Succeeded"
    deadline = _view(_running())
    deadline.failure = PodFailure("DeadlineExceeded", "too long")
    status = build_status(deadline, [], T0)
    assert (status["phase"], status["reason"], status["message"]) == (
        "Failed",
        "DeadlineExceeded",
        "too long",
    )


def _conditions(status: dict[str, object]) -> dict[str, dict[str, str]]:
    return {c["type"]: c for c in status["conditions"]}  # type: ignore[attr-defined, index]


def test_conditions_and_transition_times() -> None:
    not_ready = build_status(_view(_running(ready=False)), [], T0)
    conditions = _conditions(not_ready)  # type: ignore[arg-type]
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Ready"]["reason"] == "ContainersNotReady"
    assert conditions["Ready"]["message"] == "containers with unready status: [main]"
    assert conditions["Initialized"]["status"] == "True"
    assert conditions["PodReadyToStartContainers"]["status"] == "True"
    assert "PodScheduled" not in conditions  # the scheduler's condition is not ours to send

    later = T0 + timedelta(seconds=30)
    ready = build_status(_view(_running()), not_ready["conditions"], later)
    again = _conditions(ready)  # type: ignore[arg-type]
    assert again["Ready"] == {**again["Ready"], "status": "True", "reason": "", "message": ""}
    assert again["Ready"]["lastTransitionTime"] == "2026-01-01T00:00:30Z"
    assert again["Initialized"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"  # unchanged, kept


def test_completed_pod_is_not_ready() -> None:
    conditions = _conditions(build_status(_view(_exited(0)), [], T0))  # type: ignore[arg-type]
    assert conditions["Ready"]["reason"] == "PodCompleted"
    assert conditions["ContainersReady"]["status"] == "False"
    assert conditions["PodReadyToStartContainers"]["status"] == "False"


def test_container_statuses() -> None:
    crashed = _crashlooping(2)
    view = _view(crashed, init=[_exited(0, "init")], policy="Always")
    status = build_status(view, [], T0)
    [main] = status["containerStatuses"]
    assert main["state"] == {"waiting": {"reason": "CrashLoopBackOff"}}
    assert main["lastState"]["terminated"]["exitCode"] == 2
    assert main["restartCount"] == 1
    assert main["imageID"] == "img"
    assert status["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert status["podIP"] == status["hostIP"] == "127.0.0.1"
    assert status["podIPs"] == [{"ip": "127.0.0.1"}]
    assert status["startTime"] == "2026-01-01T00:00:00Z"
    running = build_status(_view(_running()), [], T0)["containerStatuses"][0]
    assert running["state"] == {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    assert running["containerID"] == "nodeagent://7"
    assert running["lastState"] == {}
