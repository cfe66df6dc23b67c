"""The cluster's host processes: start one, know it again by its pid file, stop it.

A pid file records the pid, its start time and its executable, so a later process that
reused the pid is never taken for ours (and never killed).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .settings import LOGS, PIDS, ROOT

_BEGAN = time.monotonic()


def say(message: str) -> None:
    print(f"[cluster {time.monotonic() - _BEGAN:5.1f}s] {message}", flush=True)


class ClusterError(Exception):
    """A one-line reason `up` cannot go on, optionally with the log that explains it."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


@dataclass
class Component:
    name: str
    argv: list[str]
    healthy: Callable[[], bool]
    ports: list[int]
    missing: str  # what to tell the user when argv[0] does not exist
    env: dict[str, str] = field(default_factory=dict)
    grace: float = 10.0

    @property
    def pidfile(self) -> Path:
        return PIDS / f"{self.name}.pid"

    @property
    def log(self) -> Path:
        return LOGS / f"{self.name}.log"


@dataclass(frozen=True)
class Record:
    pid: int
    start_ticks: int
    exe: str


def proc_start_ticks(pid: int) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    return None if fields[0] == "Z" else int(fields[19])


def _proc_exe(pid: int) -> str:
    """The executable a process runs (its command line is no proof: redis rewrites its own)."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def running(component: Component) -> Record | None:
    """The recorded process if it is alive and still the one we started, else None."""
    try:
        data = json.loads(component.pidfile.read_text())
        record = Record(int(data["pid"]), int(data["start_ticks"]), str(data["exe"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if proc_start_ticks(record.pid) != record.start_ticks or _proc_exe(record.pid) != record.exe:
        return None
    return record


def start(component: Component) -> None:
    env = {**os.environ, **component.env}
    with component.log.open("ab") as log:
        process = subprocess.Popen(
            component.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
            start_new_session=True,  # survives `make`, and never gets the terminal's Ctrl-C
        )
    record = {"pid": process.pid, "start_ticks": proc_start_ticks(process.pid), "exe": _proc_exe(process.pid)}
    component.pidfile.write_text(json.dumps(record) + "\n")
    say(f"started {component.name} (pid {process.pid}, log .cluster/logs/{component.log.name})")


def wait_for(
    what: str, check: Callable[[], bool], timeout: float, component: Component | None = None
) -> None:
    """Poll a readiness check until it passes; fail fast if the component's process died."""
    deadline = time.monotonic() + timeout
    while not check():
        if component is not None and running(component) is None:
            raise ClusterError(f"{component.name} exited during startup", component.log)
        if time.monotonic() > deadline:
            raise ClusterError(
                f"timed out after {timeout:.0f}s waiting for {what}", component.log if component else None
            )
        time.sleep(0.1)


def stop(component: Component) -> None:
    record = running(component)
    if record is not None:
        os.kill(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + component.grace
        while proc_start_ticks(record.pid) == record.start_ticks and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc_start_ticks(record.pid) == record.start_ticks:
            say(f"{component.name} did not stop within {component.grace:.0f}s: killing it")
            os.kill(record.pid, signal.SIGKILL)
        say(f"stopped {component.name} (pid {record.pid})")
    component.pidfile.unlink(missing_ok=True)


def processes_whose_cmdline_has(needle: str) -> Iterator[int]:
    """Live processes whose command line contains a string (a socket path of ours, say)."""
    wanted = needle.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if wanted in (entry / "cmdline").read_bytes() and proc_start_ticks(int(entry.name)) is not None:
                yield int(entry.name)
        except OSError:
            continue


def kill_all(pids: list[int], what: str) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        say(f"killed {what} {pid}")
    deadline = time.monotonic() + 10
    while any(proc_start_ticks(pid) is not None for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A host command; a failure, when checked, is a ClusterError that quotes its output."""
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise ClusterError(
            f"{' '.join(argv)} failed ({result.returncode}): {(result.stderr or result.stdout).strip()}"
        )
    return result


def port_free(port: int) -> bool:
    """Free on every address: binding the wildcard fails while any address holds the port."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 - a probe, closed at once
        except OSError:
            return False
    return True
