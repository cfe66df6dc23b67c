"""HA mode (`__main__._lead`): the front (webhook, results API) serves on every replica from
start to stop, standing by or leading; only the Lease's holder runs the operator proper."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from kubecanvas_operator import __main__ as entry
from kubecanvas_operator import kube


class Election:
    """A Lease that is granted when `granted` is set; records what happened, in order."""

    def __init__(self, events: list[str], granted: asyncio.Event) -> None:
        self.events, self.granted = events, granted

    async def acquire(self) -> None:
        await self.granted.wait()
        self.events.append("leading")

    async def keep(self) -> None:
        await asyncio.Event().wait()

    async def release(self) -> None:
        self.events.append("released")


class Api:
    def __init__(self, *_: Any, **__: Any) -> None: ...

    def close(self) -> None: ...


def free_liveness() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/healthz"


class Replica:
    """One replica's `_lead`, with its operator and front as fakes that record what they do:
    `granted` gives it the Lease, `operator_ends` / `front_ends` are SIGTERM reaching the kopf
    that holds the signal handler."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[str] = []
        self.granted, self.operator_ends, self.front_ends = asyncio.Event(), asyncio.Event(), asyncio.Event()
        monkeypatch.setattr(kube, "KubeApi", Api)
        monkeypatch.setattr(entry, "LeaseElection", lambda *_: Election(self.events, self.granted))

    async def operator(self) -> None:
        self.events.append("operator started")
        await self.operator_ends.wait()
        self.events.append("operator stopped")

    async def front(self, stop: asyncio.Event) -> None:
        self.events.append("front started")
        stopping = asyncio.create_task(stop.wait())
        ended = asyncio.create_task(self.front_ends.wait())
        await asyncio.wait({stopping, ended}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        ended.cancel()
        self.events.append("front stopped")

    def start(self) -> asyncio.Task[None]:
        return asyncio.create_task(entry._lead(self.operator, self.front, "lease", free_liveness()))


def test_a_standby_serves_the_front_and_stops_with_it_without_ever_running_the_operator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    replica = Replica(monkeypatch)

    async def scenario() -> None:
        leading = replica.start()
        await asyncio.sleep(0.2)
        assert replica.events == ["front started"]  # standing by, serving
        replica.front_ends.set()
        await asyncio.wait_for(leading, 5)

    asyncio.run(scenario())
    assert replica.events == ["front started", "front stopped"]


def test_a_leader_runs_the_operator_beside_the_front_and_stops_the_front_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    replica = Replica(monkeypatch)

    async def scenario() -> None:
        leading = replica.start()
        await asyncio.sleep(0.1)
        replica.granted.set()
        await asyncio.sleep(0.2)
        assert replica.events == ["front started", "leading", "operator started"]
        replica.operator_ends.set()
        await asyncio.wait_for(leading, 5)

    asyncio.run(scenario())
    assert replica.events == [
        "front started",
        "leading",
        "operator started",
        "operator stopped",
        "released",  # a standby takes over at once ...
        "front stopped",  # ... while this one still answers admission reviews
    ]
