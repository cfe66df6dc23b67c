"""What a restarted agent reports: records survive the round trip, running containers settle."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from kubecanvas_nodeagent import processgroup, recovery, state
from kubecanvas_nodeagent.podstatus import ContainerView, Running, Terminated, Waiting
from kubecanvas_nodeagent.state import PodRecord, Session

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _record(*containers: ContainerView, sessions: dict[str, Session] | None = None) -> PodRecord:
    return PodRecord("uid-1", "ns", "pod", T0, [], list(containers), sessions or {})


def test_record_round_trip(tmp_path: Path) -> None:
    ended = Terminated(3, "Error", T0, T0, "boom", 15, "nodeagent://9")
    done = ContainerView("a", "img", ended, restart_count=2, last_state=Terminated(1, "Error", T0))
    running = ContainerView("b", "img", Running(T0))
    record = _record(done, running, ContainerView("c", "img", Waiting("Crash", "m")))
    record.sessions["b"] = Session(123, 456)

    state.save(tmp_path, record)

    assert state.load(tmp_path) == record


def test_unreadable_record_is_ignored(tmp_path: Path) -> None:
    (tmp_path / state.RECORD).write_text("{not json")
    assert state.load(tmp_path) is None
    assert state.load(tmp_path / "absent") is None


def test_settle_marks_running_containers_terminated() -> None:
    record = _record(
        ContainerView("killed", "img", Running(T0), ready=True, started=True),
        ContainerView("gone", "img", Running(T0)),
        ContainerView("finished", "img", Terminated(0, "Completed", T0)),
        sessions={"killed": Session(1, 1)},
    )

    recovery.settle(record, killed={"killed"}, now=T0)

    killed, gone, finished = record.containers
    assert isinstance(killed.state, Terminated)
    assert (killed.state.reason, killed.state.exit_code) == ("NodeAgentRestarted", 137)
    assert "stopped the container's processes" in killed.state.message
    assert not killed.ready
    assert isinstance(gone.state, Terminated)
    assert "ended with it" in gone.state.message
    assert finished.state == Terminated(0, "Completed", T0)
    assert record.sessions == {}


def test_leftover_session_is_found_and_killed() -> None:
    leftover = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        ticks = processgroup.start_ticks(leftover.pid)
        assert ticks is not None
        assert processgroup.is_ours(leftover.pid, ticks)
        assert not processgroup.is_ours(leftover.pid, ticks + 1)  # same pid, another process

        sessions = {"main": Session(leftover.pid, ticks)}
        record = _record(ContainerView("main", "img", Running(T0)), sessions=sessions)
        killed = asyncio.run(recovery.reap_leftovers(record))

        assert killed == {"main"}
        assert leftover.wait(timeout=5) == -9
    finally:
        leftover.kill()
