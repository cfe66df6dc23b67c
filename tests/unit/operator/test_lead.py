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


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    found: list[str] = []
    monkeypatch.setattr(kube, "KubeApi", Api)
    return found


def lead(events: list[str], granted: asyncio.Event, operator_ends: asyncio.Event, front_ends: asyncio.Event):  # type: ignore[no-untyped-def]
    async def operator() -> None:
        events.append("operator started")
        await operator_ends.wait()
        events.append("operator stopped")

    async def front(stop: asyncio.Event) -> None:
        events.append("front started")
        stopping = asyncio.create_task(stop.wait())
        ended = asyncio.create_task(front_ends.wait())
        await asyncio.wait({stopping, ended}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        ended.cancel()
        events.append("front stopped")

    return entry._lead(operator, front, "lease", free_liveness())


def test_a_standby_serves_the_front_and_stops_with_it_without_ever_running_the_operator(
    events: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        granted, operator_ends, front_ends = asyncio.Event(), asyncio.Event(), asyncio.Event()
        monkeypatch.setattr(entry, "LeaseElection", lambda *_: Election(events, granted))
        leading = asyncio.create_task(lead(events, granted, operator_ends, front_ends))
        await asyncio.sleep(0.2)
        assert events == ["front started"]  # standing by, serving
        front_ends.set()  # SIGTERM reaches the front's kopf while standing by
        await asyncio.wait_for(leading, 5)

    asyncio.run(scenario())
    assert events == ["front started", "front stopped"]


def test_a_leader_runs_the_operator_beside_the_front_and_stops_the_front_last(
    events: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        granted, operator_ends, front_ends = asyncio.Event(), asyncio.Event(), asyncio.Event()
        monkeypatch.setattr(entry, "LeaseElection", lambda *_: Election(events, granted))
        leading = asyncio.create_task(lead(events, granted, operator_ends, front_ends))
        await asyncio.sleep(0.1)
        granted.set()
        await asyncio.sleep(0.2)
        assert events == ["front started", "leading", "operator started"]
        operator_ends.set()  # SIGTERM reaches the operator's kopf, started last
        await asyncio.wait_for(leading, 5)

    asyncio.run(scenario())
    assert events == [
        "front started",
        "leading",
        "operator started",
        "operator stopped",
        "released",  # a standby takes over at once ...
        "front stopped",  # ... while this one still answers admission reviews
    ]
