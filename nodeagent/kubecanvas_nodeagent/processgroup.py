"""Identify and signal the processes of one container, which all share the session its leader created.

Every container process is started with setsid(), so its pid is also its session id. Pids are
reused, so a pid alone never proves a process is ours: we also compare the kernel's start time
of the leader, and Linux never hands out a pid that is still in use as a session id.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3 onwards), or None if gone."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rfind(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (stat field 22), None if it is gone."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def session_members(session: int) -> list[int]:
    """Pids of the live (non-zombie) processes whose session id is `session`."""
    members = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields and fields[3] == str(session) and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def is_ours(leader: int, ticks: int) -> bool:
    """Whether session `leader`, recorded with start time `ticks`, still has processes of ours."""
    current = start_ticks(leader)
    if current is not None:
        return current == ticks
    return bool(session_members(leader))


def signal_session(session: int, sig: signal.Signals) -> bool:
    """Send `sig` to every process of the session; return whether any was found."""
    found = False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(session, sig)
        found = True
    for pid in session_members(session):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            found = True
    return found


async def kill_session(session: int, attempts: int = 50) -> None:
    """SIGKILL the session until no member is left (a member may fork while we sweep)."""
    for _ in range(attempts):
        if not signal_session(session, signal.SIGKILL):
            return
        await asyncio.sleep(0.02)
        if not session_members(session):
            return
