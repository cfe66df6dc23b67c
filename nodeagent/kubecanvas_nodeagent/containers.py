"""One run of one container: a local process in its own session and mount namespace.

The image is never pulled: the container's command and args run on this machine, through
shim.py, which sets up the mounts and execs. The process is the leader of a new session, so
stopping the container (SIGTERM, grace period, SIGKILL) reaches everything it started, and when
the leader exits the rest of its session is killed, as the end of a container's PID 1 would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kubecanvas_nodeagent import processgroup
from kubecanvas_nodeagent.containerlogs import ContainerLog
from kubecanvas_nodeagent.volumes import Mount

log = logging.getLogger(__name__)

SHIM = Path(__file__).with_name("shim.py")
DRAIN_TIMEOUT = 2.0
"""How long to wait for the output pipes to close after the container's processes are gone."""


class StartError(Exception):
    """The container could not be started (no such executable, a mount failed)."""


@dataclass(frozen=True)
class LaunchSpec:
    argv: list[str]
    env: dict[str, str]
    working_dir: str | None
    mounts: list[Mount]
    isolate: bool
    """Whether to use a private mount namespace (False when the agent lacks the privilege)."""


@dataclass(frozen=True)
class Exit:
    code: int
    signal: int | None


def _shim_argv(errfd: int, spec: dict[str, object], argv: list[str]) -> list[str]:
    return [sys.executable, "-I", "-S", str(SHIM), str(errfd), json.dumps(spec), *argv]


def mount_namespaces_available() -> bool:
    """Whether this agent may create mount namespaces (root, and not forbidden by a sandbox)."""
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(SHIM), "--check"], capture_output=True, check=False
    )
    return result.returncode == 0


async def _read_all(fd: int) -> bytes:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    try:
        return await reader.read()
    finally:
        transport.close()


async def _spawn(spec: dict[str, object], argv: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
    """Start the shim; return once it has exec'd the command, raising StartError if it could not."""
    read_fd, write_fd = os.pipe()
    try:
        process = await asyncio.create_subprocess_exec(
            *_shim_argv(write_fd, spec, argv),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            pass_fds=(write_fd,),
            start_new_session=True,
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    failure = await _read_all(read_fd)
    if failure:
        await process.wait()
        raise StartError(failure.decode(errors="replace"))
    return process


class ContainerProcess:
    """A started container: its pid, its log, and how to wait for it or stop it."""

    def __init__(self, process: asyncio.subprocess.Process, log_file: ContainerLog) -> None:
        self._process = process
        self.pid = process.pid
        self.start_ticks = processgroup.start_ticks(process.pid) or 0
        self.started_at = datetime.now(UTC)
        self.log = log_file
        self._pumps = [
            asyncio.create_task(self._pump(process.stdout, b"stdout")),
            asyncio.create_task(self._pump(process.stderr, b"stderr")),
        ]
        self._exit = asyncio.create_task(self._reap())

    @classmethod
    async def start(cls, launch: LaunchSpec, log_file: ContainerLog) -> ContainerProcess:
        spec = {
            "isolate": launch.isolate,
            "mounts": [[m.source, m.target, m.read_only] for m in launch.mounts],
            "workdir": launch.working_dir,
        }
        process = await _spawn(spec, launch.argv, launch.env)
        log_file.open()
        return cls(process, log_file)

    @property
    def container_id(self) -> str:
        return f"nodeagent://{self.pid}"

    async def _pump(self, stream: asyncio.StreamReader | None, name: bytes) -> None:
        assert stream is not None
        while chunk := await stream.read(65536):
            self.log.append(name, chunk)

    async def _reap(self) -> Exit:
        returncode = await self._process.wait()
        await processgroup.kill_session(self.pid)  # the leader is gone: so is the container
        _, pending = await asyncio.wait(self._pumps, timeout=DRAIN_TIMEOUT)
        for pump in pending:  # a process that escaped the session still holds the pipe
            pump.cancel()
        self.log.finish()
        if returncode < 0:
            return Exit(128 - returncode, -returncode)
        return Exit(returncode, None)

    async def wait(self) -> Exit:
        return await asyncio.shield(self._exit)

    async def stop(self, grace: float) -> Exit:
        """SIGTERM the container's processes, then SIGKILL whatever is left after `grace` seconds."""
        if not self._exit.done():
            processgroup.signal_session(self.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(self._exit), timeout=grace)
            await processgroup.kill_session(self.pid)
        return await self.wait()


async def exec_in(
    pid: int, command: tuple[str, ...], env: dict[str, str], timeout: float
) -> tuple[bool, str]:
    """Run a command inside a running container's mount namespace (exec probes); (ok, output)."""
    try:
        process = await _spawn({"join": pid}, list(command), env)
    except StartError as error:
        return False, str(error)
    try:
        async with asyncio.timeout(timeout):
            output, errors = await process.communicate()
    except TimeoutError:
        await processgroup.kill_session(process.pid)
        await process.wait()
        return False, f"command timed out after {timeout:g}s"
    await processgroup.kill_session(process.pid)
    return process.returncode == 0, (output + errors).decode(errors="replace").strip()[-1024:]
