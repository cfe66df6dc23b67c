"""What the agent records about each pod it runs, so that a restarted agent can tell the truth.

One JSON file per pod (``pods/<uid>/state.json``), rewritten atomically on every change: the
containers' states and, for running ones, the pid and kernel start time that prove a leftover
process is ours.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kubecanvas_nodeagent.podstatus import ContainerView, Running, State, Terminated, Waiting

log = logging.getLogger(__name__)

RECORD = "state.json"


@dataclass(frozen=True)
class Session:
    """A running container's process: its pid (also its session id) and start time in ticks."""

    pid: int
    start_ticks: int


@dataclass
class PodRecord:
    uid: str
    namespace: str
    name: str
    start_time: datetime | None = None
    init_containers: list[ContainerView] = field(default_factory=list)
    containers: list[ContainerView] = field(default_factory=list)
    sessions: dict[str, Session] = field(default_factory=dict)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _state_to_json(state: State | None) -> dict[str, Any] | None:
    if state is None:
        return None
    if isinstance(state, Waiting):
        return {"waiting": {"reason": state.reason, "message": state.message}}
    if isinstance(state, Running):
        return {"running": {"started_at": _time(state.started_at)}}
    return {
        "terminated": {
            "exit_code": state.exit_code,
            "reason": state.reason,
            "finished_at": _time(state.finished_at),
            "started_at": _time(state.started_at),
            "message": state.message,
            "signal": state.signal,
            "container_id": state.container_id,
        }
    }


def _state_from_json(data: dict[str, Any]) -> State:
    if "waiting" in data:
        return Waiting(str(data["waiting"]["reason"]), str(data["waiting"].get("message", "")))
    if "running" in data:
        started = _parse_time(data["running"]["started_at"])
        if started is None:
            raise ValueError("running state without a start time")
        return Running(started)
    terminated = data["terminated"]
    finished = _parse_time(terminated["finished_at"])
    if finished is None:
        raise ValueError("terminated state without a finish time")
    return Terminated(
        exit_code=int(terminated["exit_code"]),
        reason=str(terminated["reason"]),
        finished_at=finished,
        started_at=_parse_time(terminated.get("started_at")),
        message=str(terminated.get("message", "")),
        signal=terminated.get("signal"),
        container_id=str(terminated.get("container_id", "")),
    )


def _view_to_json(view: ContainerView) -> dict[str, Any]:
    return {
        "name": view.name,
        "image": view.image,
        "state": _state_to_json(view.state),
        "last_state": _state_to_json(view.last_state),
        "restart_count": view.restart_count,
        "container_id": view.container_id,
    }


def _view_from_json(data: dict[str, Any]) -> ContainerView:
    last = _state_from_json(data["last_state"]) if data.get("last_state") else None
    return ContainerView(
        name=str(data["name"]),
        image=str(data["image"]),
        state=_state_from_json(data["state"]),
        last_state=last if isinstance(last, Terminated) else None,
        restart_count=int(data["restart_count"]),
        container_id=str(data.get("container_id", "")),
    )


def ensure_private(path: Path) -> None:
    """The state directory holds secrets and tokens: only its owner may read it."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def save(directory: Path, record: PodRecord) -> None:
    payload = {
        "uid": record.uid,
        "namespace": record.namespace,
        "name": record.name,
        "start_time": _time(record.start_time),
        "init_containers": [_view_to_json(v) for v in record.init_containers],
        "containers": [_view_to_json(v) for v in record.containers],
        "sessions": {
            name: {"pid": s.pid, "start_ticks": s.start_ticks} for name, s in record.sessions.items()
        },
    }
    directory.mkdir(parents=True, exist_ok=True)
    scratch = directory / f".{RECORD}.tmp"
    scratch.write_text(json.dumps(payload))
    scratch.replace(directory / RECORD)


def load(directory: Path) -> PodRecord | None:
    """Read a pod's record; None (and a warning) if it is missing or unreadable."""
    path = directory / RECORD
    try:
        data = json.loads(path.read_text())
        return PodRecord(
            uid=str(data["uid"]),
            namespace=str(data["namespace"]),
            name=str(data["name"]),
            start_time=_parse_time(data.get("start_time")),
            init_containers=[_view_from_json(v) for v in data.get("init_containers", [])],
            containers=[_view_from_json(v) for v in data.get("containers", [])],
            sessions={
                name: Session(int(s["pid"]), int(s["start_ticks"]))
                for name, s in data.get("sessions", {}).items()
            },
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("ignoring unreadable pod record %s: %s", path, error)
        return None
