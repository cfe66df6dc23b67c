"""The CRI log format and the kubelet's log query options."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kubecanvas_nodeagent.containerlogs import MAX_LINE, ContainerLog, LogQuery, parse_records, render, select


def _records(path: Path) -> list[tuple[bytes, bool, bytes]]:
    return [
        (r.stream, r.partial, r.content) for r in parse_records(path.read_bytes().splitlines(keepends=True))
    ]


def test_lines_are_split_per_stream_and_flushed_at_finish(tmp_path: Path) -> None:
    log = ContainerLog(tmp_path / "0.log")
    log.open()
    log.append(b"stdout", b"one\ntw")
    log.append(b"stderr", b"err\n")
    log.append(b"stdout", b"o\nunterminated")
    log.finish()
    assert _records(log.path) == [
        (b"stdout", False, b"one"),
        (b"stderr", False, b"err"),
        (b"stdout", False, b"two"),
        (b"stdout", False, b"unterminated"),
    ]
    assert log.finished


def test_long_lines_become_partial_records(tmp_path: Path) -> None:
    log = ContainerLog(tmp_path / "0.log")
    log.open()
    log.append(b"stdout", b"x" * (MAX_LINE + 10) + b"\n")
    log.finish()
    records = list(parse_records(log.path.read_bytes().splitlines(keepends=True)))
    assert [r.partial for r in records] == [True, False]
    assert b"".join(render(r, LogQuery()) for r in records) == b"x" * (MAX_LINE + 10) + b"\n"


def test_select_tail_since_and_timestamps(tmp_path: Path) -> None:
    log = ContainerLog(tmp_path / "0.log")
    log.open()
    log.append(b"stdout", b"a\nb\nc\n")
    log.finish()
    records = list(parse_records(log.path.read_bytes().splitlines(keepends=True)))
    assert [r.content for r in select(records, LogQuery(tail_lines=2))] == [b"b", b"c"]
    assert select(records, LogQuery(tail_lines=0)) == []
    assert select(records, LogQuery(since_ns=records[0].timestamp_ns + 10**12)) == []
    stamped = render(records[0], LogQuery(timestamps=True))
    assert stamped == records[0].timestamp + b" a\n"


def test_followers_wake_on_append_and_finish(tmp_path: Path) -> None:
    async def scenario() -> list[bool]:
        log = ContainerLog(tmp_path / "0.log")
        log.open()
        woken = []
        waiter = log.changed()
        log.append(b"stdout", b"partial")  # no complete line yet: nothing written
        woken.append(waiter.done())
        log.append(b"stdout", b" line\n")
        woken.append(waiter.done())
        waiter = log.changed()
        log.finish()
        woken.append(waiter.done())
        woken.append(log.changed().done())  # a finished log never blocks
        return woken

    assert asyncio.run(scenario()) == [False, True, True, True]
