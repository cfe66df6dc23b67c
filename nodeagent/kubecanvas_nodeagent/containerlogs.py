"""Container log files in the CRI format, and the queries ``kubectl logs`` makes of them.

Each line on disk is ``<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>``, the format
every CRI runtime writes, so ``timestamps``, ``sinceSeconds`` and ``tailLines`` work on whole
records. F marks a full line; P a chunk of a line too long to buffer.
"""

from __future__ import annotations

import asyncio
import calendar
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAX_LINE = 16 * 1024
"""Longer lines are split into partial (P) records, like the CRI runtimes do."""


def timestamp(ns: int) -> bytes:
    """RFC 3339 with nanoseconds, UTC: what ``kubectl logs --timestamps`` prints."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)).encode() + b".%09dZ" % fraction


@dataclass(frozen=True)
class Record:
    timestamp_ns: int
    timestamp: bytes
    stream: bytes
    partial: bool
    content: bytes


def _parse_timestamp(text: bytes) -> int:
    whole, _, fraction = text.rstrip(b"Z").partition(b".")
    seconds = calendar.timegm(time.strptime(whole.decode(), "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int((fraction or b"0").ljust(9, b"0")[:9])


def parse_line(line: bytes) -> Record | None:
    """Parse one stored line; None for anything that is not a record (a torn final line)."""
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) != 4 or parts[2] not in (b"F", b"P"):
        return None
    try:
        ns = _parse_timestamp(parts[0])
    except ValueError:
        return None
    return Record(ns, parts[0], parts[1], parts[2] == b"P", parts[3])


def parse_records(lines: Iterable[bytes]) -> Iterator[Record]:
    for line in lines:
        if line.endswith(b"\n") and (record := parse_line(line)):
            yield record


@dataclass(frozen=True)
class LogQuery:
    """The options of the kubelet's /containerLogs endpoint."""

    follow: bool = False
    tail_lines: int | None = None
    timestamps: bool = False
    since_ns: int | None = None
    limit_bytes: int | None = None
    previous: bool = False


def render(record: Record, query: LogQuery) -> bytes:
    prefix = record.timestamp + b" " if query.timestamps else b""
    return prefix + record.content + (b"" if record.partial else b"\n")


def select(records: Iterable[Record], query: LogQuery) -> list[Record]:
    """Apply sinceSeconds/sinceTime and tailLines to the records already written."""
    chosen = [r for r in records if query.since_ns is None or r.timestamp_ns >= query.since_ns]
    if query.tail_lines is not None:
        chosen = chosen[-query.tail_lines :] if query.tail_lines > 0 else []
    return chosen


class ContainerLog:
    """The log of one run of one container: appended by the agent, followed by readers.

    Followers wait on `changed()` instead of polling the file; `finish()` wakes them for good.
    """

    def __init__(self, path: Path, *, finished: bool = False) -> None:
        self.path = path
        self.finished = finished
        self._file: BinaryIO | None = None
        self._pending: dict[bytes, bytes] = {}
        self._waiters: list[asyncio.Future[None]] = []

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")

    def append(self, stream: bytes, data: bytes) -> None:
        """Store output of one stream, cut into CRI records at newlines."""
        assert self._file is not None, "log not opened"
        buffered = self._pending.get(stream, b"") + data
        now = timestamp(time.time_ns())
        out = []
        *lines, rest = buffered.split(b"\n")
        for line in lines:
            while len(line) > MAX_LINE:
                out.append(b"%s %s P %s\n" % (now, stream, line[:MAX_LINE]))
                line = line[MAX_LINE:]  # noqa: PLW2901 - consumed chunk by chunk
            out.append(b"%s %s F %s\n" % (now, stream, line))
        while len(rest) > MAX_LINE:
            out.append(b"%s %s P %s\n" % (now, stream, rest[:MAX_LINE]))
            rest = rest[MAX_LINE:]
        self._pending[stream] = rest
        if out:
            self._file.write(b"".join(out))
            self._file.flush()
            self._wake()

    def finish(self) -> None:
        """The run is over: write any unterminated last line and release the followers."""
        if self._file is not None:
            now = timestamp(time.time_ns())
            for stream, rest in self._pending.items():
                if rest:
                    self._file.write(b"%s %s F %s\n" % (now, stream, rest))
            self._file.close()
            self._file = None
        self._pending.clear()
        self.finished = True
        self._wake()

    def changed(self) -> asyncio.Future[None]:
        """A future resolved at the next append or at finish; take it before reading, then await."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.finished:
            waiter.set_result(None)
        else:
            self._waiters.append(waiter)
        return waiter

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
