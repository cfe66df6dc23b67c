"""The kubelet's HTTPS endpoint, as far as ``kubectl logs`` needs it: /containerLogs and /healthz.

The API server reaches it with its kubelet client certificate; the server accepts only client
certificates signed by the cluster CA (the kubelet would also ask the API server to authorize
the caller; on a loopback-only dev cluster the CA check is the gate). exec, attach and
port-forward are not served.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from aiohttp import web

from kubecanvas_nodeagent.containerlogs import ContainerLog, LogQuery, parse_records, render, select

log = logging.getLogger(__name__)

LogLookup = Callable[[str, str, str, bool], ContainerLog]
"""(namespace, pod, container, previous) -> the log; raises LookupError with the kubelet's message."""


def server_ssl_context(cert: Path, key: Path, client_ca: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(client_ca))
    context.load_cert_chain(str(cert), str(key))
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


def _non_negative(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not raw.lstrip("-").isdigit():
        raise web.HTTPBadRequest(text=f"{name} must be an integer, got {raw!r}")
    return max(int(raw), 0)


def parse_query(request: web.Request, now_ns: int) -> LogQuery:
    """The /containerLogs query string, with the kubelet's names and defaults."""
    since_ns = None
    if (seconds := _non_negative(request, "sinceSeconds")) is not None:
        since_ns = now_ns - seconds * 1_000_000_000
    elif since_time := request.query.get("sinceTime"):
        try:
            since_ns = int(datetime.fromisoformat(since_time.replace("Z", "+00:00")).timestamp() * 1e9)
        except ValueError as error:
            raise web.HTTPBadRequest(text=f"sinceTime must be RFC 3339, got {since_time!r}") from error
    tail = request.query.get("tailLines")
    return LogQuery(
        follow=_flag(request.query.get("follow")),
        tail_lines=None if tail in (None, "", "-1") else _non_negative(request, "tailLines"),
        timestamps=_flag(request.query.get("timestamps")),
        since_ns=since_ns,
        limit_bytes=_non_negative(request, "limitBytes"),
        previous=_flag(request.query.get("previous")),
    )


class _Budget:
    """limitBytes: how much more may be written."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit

    def cut(self, data: bytes) -> bytes:
        if self.left is None:
            return data
        data = data[: self.left]
        self.left -= len(data)
        return data

    @property
    def spent(self) -> bool:
        return self.left is not None and self.left <= 0


def _complete_lines(source: BinaryIO) -> list[bytes]:
    """Read the whole lines written so far; a line still being written is left for next time."""
    position = source.tell()
    lines = source.readlines()
    if lines and not lines[-1].endswith(b"\n"):
        source.seek(position + sum(len(line) for line in lines[:-1]))
        lines.pop()
    return lines


async def _stream(response: web.StreamResponse, container_log: ContainerLog, query: LogQuery) -> None:
    budget = _Budget(query.limit_bytes)
    change = container_log.changed()  # taken before reading: no write is missed
    try:
        source = container_log.path.open("rb")
    except FileNotFoundError:
        return
    with source:
        first = select(parse_records(_complete_lines(source)), query)
        await response.write(budget.cut(b"".join(render(r, query) for r in first)))
        while query.follow and not budget.spent:
            finished = container_log.finished
            await change
            change = container_log.changed()
            lines = _complete_lines(source)
            fresh = [
                r for r in parse_records(lines) if query.since_ns is None or r.timestamp_ns >= query.since_ns
            ]
            if fresh:
                await response.write(budget.cut(b"".join(render(r, query) for r in fresh)))
            if finished and not lines:
                break


def make_app(lookup: LogLookup, now_ns: Callable[[], int]) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def container_logs(request: web.Request) -> web.StreamResponse:
        query = parse_query(request, now_ns())
        info = request.match_info
        try:
            container_log = lookup(info["namespace"], info["pod"], info["container"], query.previous)
        except LookupError as error:
            status = web.HTTPNotFound if "not found" in str(error) else web.HTTPBadRequest
            raise status(text=str(error.args[0] if error.args else error)) from error
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await _stream(response, container_log, query)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", container_logs)
    return app
