"""The operator's plain HTTP endpoints (aiohttp), beside kopf's liveness endpoint.

    GET /healthz    ok
    GET /metrics    Prometheus text format (see `metrics`): counts and durations, nothing
                    of any workflow's data

A workflow's state (its arguments, results and errors) is not served here but by the
results API (`resultsapi`), over TLS, to authenticated and authorized callers only. The
port is `KUBECANVAS_HTTP_PORT` (default 8081; 0 turns the server off), the address
`KUBECANVAS_HTTP_HOST` (default all interfaces). A port already taken is logged, not fatal:
the operator's real work does not depend on this server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from typing import Any

import kopf
from aiohttp import web

from kubecanvas_operator.memo import OperatorMemo
from kubecanvas_operator.metrics import OperatorMetrics

__all__ = ["DEFAULT_PORT", "build_app", "http_settings", "port_setting", "serve_http", "track_workflow_phase"]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8081
PORT_ENV = "KUBECANVAS_HTTP_PORT"
HOST_ENV = "KUBECANVAS_HTTP_HOST"

_METRICS: web.AppKey[OperatorMetrics] = web.AppKey("metrics", OperatorMetrics)


def port_setting(environ: Mapping[str, str], name: str, default: int) -> int:
    """A port from the environment (0: no server); ValueError naming the variable."""
    text = environ.get(name) or str(default)
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a port number, not {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{name} must be between 0 and 65535, not {port}")
    return port


def http_settings(environ: Mapping[str, str] = os.environ) -> tuple[str, int]:
    """(host, port) from the environment; port 0 means no server."""
    port = port_setting(environ, PORT_ENV, DEFAULT_PORT)
    return environ.get(HOST_ENV) or "0.0.0.0", port  # noqa: S104 - a pod serves on its pod IP


def build_app(metrics: OperatorMetrics) -> web.Application:
    app = web.Application()
    app[_METRICS] = metrics
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    return app


async def serve_http(metrics: OperatorMetrics) -> None:
    """Serve until cancelled (the operator's cleanup cancels it)."""
    try:
        host, port = http_settings()
    except ValueError as error:
        logger.error("HTTP API disabled: %s", error)
        return
    if port == 0:
        logger.info("HTTP API disabled (%s=0)", PORT_ENV)
        return
    runner = web.AppRunner(build_app(metrics), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as error:
            logger.error(
                "HTTP endpoints (metrics) not served: cannot listen on %s:%d: %s",
                host,
                port,
                error,
            )
            return
        logger.info("HTTP endpoints on %s:%d (/healthz, /metrics)", host, port)
        await asyncio.Event().wait()
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[_METRICS].exposition()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


def track_workflow_phase(event: kopf.RawEvent, memo: OperatorMemo, **_: Any) -> None:
    """`kubecanvas_workflows{phase}` follows the Workflows the operator watches: one more
    handler on the watch kopf already runs."""
    metrics = memo.services.metrics if memo.services else None
    body = event.get("object") or {}
    uid = (body.get("metadata") or {}).get("uid")
    if metrics is None or not uid:
        return
    if event.get("type") == "DELETED":
        metrics.track_phase(uid, None)
    else:
        metrics.track_phase(uid, str((body.get("status") or {}).get("phase") or "Pending"))
