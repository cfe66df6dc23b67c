"""A private redis-server for one test module: the real thing, on a free port."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kubecanvas.store.hostside import connect_async
from kubecanvas.store.wire import Address, Connection

MASTER = "kcmaster"


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


def _wait_port(port: int, process: subprocess.Popen[bytes], host: str) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            Connection(Address(host=host, port=port), retry_for=0).execute("PING")
            return
        except Exception:  # noqa: BLE001 - not up yet
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis on port {port} did not start")
            time.sleep(0.05)


@contextmanager
def sentinel_setup(directory: Path, host: str = "127.0.0.1") -> Iterator[dict[str, Any]]:
    """A master, its replica and one Sentinel (quorum 1, a master down after 1 s), on `host`
    (the local cluster's node address, for pods to reach them): yields their ports, the
    master's process and the `redis+sentinel://` URL of the master `MASTER`."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (hack/install-deps.sh)")
    processes: list[subprocess.Popen[bytes]] = []
    ports = {"master": free_port(), "replica": free_port(), "sentinel": free_port()}

    def start(*arguments: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([binary, *arguments], stdout=subprocess.DEVNULL, cwd=directory)
        processes.append(process)
        return process

    # No password: reached from the node's address (by pods), protected mode would refuse that.
    common = ["--bind", host, "--protected-mode", "no", "--save", "", "--appendonly", "no"]
    try:
        master = start("--port", str(ports["master"]), *common, "--dir", str(directory))
        _wait_port(ports["master"], master, host)
        (directory / "replica").mkdir()
        replica = start(
            "--port", str(ports["replica"]), *common, "--dir", str(directory / "replica"),
            "--replicaof", host, str(ports["master"]),
        )  # fmt: skip
        _wait_port(ports["replica"], replica, host)

        def replica_synced() -> bool:
            connection = Connection(Address(host=host, port=ports["replica"]), retry_for=0)
            try:
                info = connection.execute("INFO", "replication")
            finally:
                connection.close()
            return isinstance(info, str) and "master_link_status:up" in info

        # Known to the Sentinel is not enough: its first full sync (a fork and an RDB) can take
        # seconds on a loaded machine, and WAIT below counts only a replica that is online.
        deadline = time.monotonic() + 60
        while not replica_synced():
            if time.monotonic() > deadline:
                pytest.fail("the replica never finished its first sync with the master")
            time.sleep(0.1)
        config = directory / "sentinel.conf"
        config.write_text(
            f"port {ports['sentinel']}\nbind {host}\nprotected-mode no\ndir {directory}\n"
            f"sentinel monitor {MASTER} {host} {ports['master']} 1\n"
            f"sentinel down-after-milliseconds {MASTER} 1000\n"
            f"sentinel failover-timeout {MASTER} 5000\n"
        )
        sentinel = start(str(config), "--sentinel")
        _wait_port(ports["sentinel"], sentinel, host)

        def knows_the_replica() -> bool:
            reply = Connection(Address(host=host, port=ports["sentinel"]), retry_for=0).execute(
                "SENTINEL", "replicas", MASTER
            )
            return isinstance(reply, list) and len(reply) == 1

        deadline = time.monotonic() + 30
        while not knows_the_replica():
            if time.monotonic() > deadline:
                pytest.fail("the Sentinel never saw the replica")
            time.sleep(0.2)
        yield {
            "ports": ports,
            "master": master,
            "url": f"redis+sentinel://{host}:{ports['sentinel']}/{MASTER}",
        }
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(10)


def burst(url: str, callers: int) -> list[object]:
    """`callers` commands at once, each holding its connection for a moment (a blocking pop
    of a list nobody fills): more than the pool holds, as many admissions at once are."""

    async def all_at_once() -> list[object]:
        client = connect_async(url)
        try:
            return list(
                await asyncio.gather(
                    *(client.blpop([f"nothing-{index}"], timeout=0.3) for index in range(callers))
                )
            )
        finally:
            await client.aclose()

    return asyncio.run(all_at_once())
