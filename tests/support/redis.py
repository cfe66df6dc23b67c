"""A private redis-server for one test module: the real thing, on a free port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def redis_server(
    directory: Path, *, password: str | None = None, db: int = 0
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start redis-server (no persistence) and yield its URL and process; stop it after."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (Debian package redis-server; run hack/install-deps.sh)")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(directory)]
    if password:
        command += ["--requirepass", password]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.02)
    credentials = f":{password}@" if password else ""
    try:
        yield f"redis://{credentials}127.0.0.1:{port}/{db}", server
    finally:
        server.terminate()
        server.wait(10)
