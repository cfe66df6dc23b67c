"""StatusWriter: the status that lands last is the newest, whatever the timing of writes."""

from __future__ import annotations

import asyncio
from typing import Any

from kubecanvas_operator.status_writer import StatusWriter


class SlowApi:
    """An API whose first write takes a while, as a call in a busy thread pool does."""

    def __init__(self) -> None:
        self.landed: list[Any] = []
        self.calls = 0

    async def write(self, status: dict[str, Any]) -> None:
        self.calls += 1
        if self.calls == 1:
            # Shielded: like a request already handed to a thread, cancelling the caller
            # does not stop it from landing.
            await asyncio.shield(self._land_later(status))
        else:
            self.landed.append(status)

    async def _land_later(self, status: dict[str, Any]) -> None:
        await asyncio.sleep(0.05)
        self.landed.append(status)


def test_a_final_flush_during_a_slow_write_lands_last() -> None:
    async def scenario() -> list[Any]:
        api = SlowApi()
        state = {"phase": "Running"}

        async def build() -> dict[str, Any]:
            return dict(state)

        writer = StatusWriter(build, api.write, interval=0.0)
        writer.request()
        await asyncio.sleep(0.01)  # the requested write is now in flight
        state["phase"] = "Succeeded"
        await writer.flush()
        await asyncio.sleep(0.1)
        return api.landed

    landed = asyncio.run(scenario())
    assert landed[-1] == {"phase": "Succeeded"}


def test_requests_within_an_interval_coalesce_into_one_write_of_the_latest_state() -> None:
    async def scenario() -> list[Any]:
        landed: list[Any] = []
        state = {"progress": 0}

        async def build() -> dict[str, Any]:
            return dict(state)

        async def write(status: dict[str, Any]) -> None:
            landed.append(status)

        writer = StatusWriter(build, write, interval=0.05)
        await writer.flush()
        for progress in range(1, 6):
            state["progress"] = progress
            writer.request()
        await asyncio.sleep(0.15)
        return landed

    assert asyncio.run(scenario()) == [{"progress": 0}, {"progress": 5}]


def test_a_flush_cancels_a_sleeping_request_rather_than_writing_twice() -> None:
    async def scenario() -> list[Any]:
        landed: list[Any] = []

        async def build() -> dict[str, Any]:
            return {"n": len(landed)}

        async def write(status: dict[str, Any]) -> None:
            landed.append(status)

        writer = StatusWriter(build, write, interval=10.0)
        await writer.flush()
        writer.request()  # sleeps out the 10 s interval
        await writer.flush()
        await asyncio.sleep(0.05)
        return landed

    assert asyncio.run(scenario()) == [{"n": 0}, {"n": 1}]


def test_a_final_flush_retries_until_the_status_is_written() -> None:
    async def scenario() -> tuple[bool, list[Any]]:
        landed: list[Any] = []
        failures = iter([True, True, False])

        async def build() -> dict[str, Any]:
            return {"phase": "Succeeded"}

        async def write(status: dict[str, Any]) -> None:
            if next(failures):
                raise RuntimeError("API blip")
            landed.append(status)

        writer = StatusWriter(build, write, interval=0.0)
        written = await writer.flush(retries=(0.01, 0.01, 0.01))
        return written, landed

    assert asyncio.run(scenario()) == (True, [{"phase": "Succeeded"}])


def test_a_change_requested_during_a_write_is_written_after_it() -> None:
    async def scenario() -> list[Any]:
        landed: list[Any] = []
        state = {"progress": 1}

        async def build() -> dict[str, Any]:
            return dict(state)

        async def write(status: dict[str, Any]) -> None:
            await asyncio.sleep(0.05)
            landed.append(status)

        writer = StatusWriter(build, write, interval=0.0)
        writer.request()
        await asyncio.sleep(0.01)  # the first write is under way, built with progress 1
        state["progress"] = 2
        writer.request()
        await asyncio.sleep(0.2)
        return landed

    assert asyncio.run(scenario()) == [{"progress": 1}, {"progress": 2}]


def test_once_closed_no_write_starts_and_one_under_way_lands_before_close_returns() -> None:
    """A workflow whose state was lost ends with a status written outside the writer: a
    write in flight must land before it, and one waiting for its turn must not start (it
    would write Running over the ending; the chaos suite's Redis FLUSHALL found it)."""

    async def scenario() -> list[Any]:
        api = SlowApi()

        async def build() -> dict[str, Any]:
            return {"phase": "Running"}

        writer = StatusWriter(build, api.write, interval=0.0)
        writer.request()
        await asyncio.sleep(0.01)  # the first write is in flight
        writer.request()  # the next one waits for its turn
        await asyncio.sleep(0)
        await writer.close()
        api.landed.append({"phase": "Failed"})  # the ending, written by its owner
        writer.request()
        assert not await writer.flush()
        await asyncio.sleep(0.1)
        return api.landed

    assert asyncio.run(scenario()) == [{"phase": "Running"}, {"phase": "Failed"}]


def test_an_api_error_is_a_warning_not_a_traceback(caplog: Any) -> None:
    from kubecanvas.errors import KubeApiError

    async def scenario() -> bool:
        async def build() -> dict[str, Any]:
            return {}

        async def refuse(status: dict[str, Any]) -> None:
            raise KubeApiError(0, "the operator is stopping: the call was not sent")

        return await StatusWriter(build, refuse, interval=0.0).flush()

    assert asyncio.run(scenario()) is False
    (record,) = caplog.records
    assert (record.levelname, record.exc_info) == ("WARNING", None)
    assert "the operator is stopping" in record.getMessage()
