"""`kubecanvas result NAME`: the workflow's value as JSON, or why there is none."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kubecanvas.cli.clusteropts import FINISHED, NameArgument, NamespaceOption, RedisOption
from kubecanvas.cli.errors import EXIT_FAILED, EXIT_OK, CliError

if TYPE_CHECKING:
    from kubecanvas.client.cluster import WorkflowApi
    from kubecanvas.client.sources import StateSource

__all__ = ["describe_error", "result"]


def result(
    name: NameArgument,
    namespace: NamespaceOption = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the workflow to finish first.")] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", min=0, help="With --wait: give up after this many seconds.", show_default=False
        ),
    ] = None,
    redis: RedisOption = None,
) -> None:
    """Print the workflow's result as JSON; exit 1 if it failed (naming the root cause).

    Also exit 1 when it was revoked or has not finished (--wait waits for it)."""
    from kubecanvas.cli.clusteropts import connect, namespace_of, state_source

    target = namespace_of(namespace)
    api = connect()
    body: Mapping[str, Any] = api.get(target, name)
    source: StateSource | None = None
    try:
        if wait:
            source = state_source(api, redis) if redis or _has_redis_env() else None
            body = _wait(api, body, source, timeout)
        status = body.get("status") or {}
        phase = status.get("phase") or "Pending"
        if phase not in FINISHED:
            progress = status.get("progress") or "0/?"
            raise CliError(
                f"workflow {target}/{name} has not finished ({phase}, {progress} tasks done): "
                "--wait waits for it"
            )
        value, error = status.get("result"), status.get("error")
        if status.get("resultRef"):  # too large for the status: it is in Redis
            source = source or state_source(api, redis)
            document = source.document(body)
            value, error = document["result"], document["error"]
    finally:
        if source is not None:
            source.close()
    if phase == "Succeeded" or value is not None:
        sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    if phase == "Succeeded":
        raise typer.Exit(EXIT_OK)
    if phase == "Revoked" and not error:
        raise CliError(f"workflow {target}/{name} was revoked", EXIT_FAILED)
    raise CliError(f"workflow {target}/{name} {phase.lower()}: {describe_error(error, status)}", EXIT_FAILED)


def describe_error(error: Any, status: Mapping[str, Any]) -> str:
    if isinstance(error, Mapping) and error.get("type"):
        where = f"{error.get('task')}[{error.get('taskId')}] " if error.get("taskId") else ""
        return f"{where}raised {error['type']}: {error.get('message')}"
    return str(status.get("message") or "no error recorded")


def _has_redis_env() -> bool:
    from kubecanvas.client.settings import resolve

    return bool(resolve().redis_url)


def _wait(
    api: WorkflowApi, body: Mapping[str, Any], source: StateSource | None, timeout: float | None
) -> Mapping[str, Any]:
    metadata = body["metadata"]
    deadline = math.inf if timeout is None else time.monotonic() + timeout
    while ((body.get("status") or {}).get("phase")) not in FINISHED:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CliError(
                f"workflow {metadata['namespace']}/{metadata['name']} did not finish in {timeout:g}s"
            )
        if source is not None:
            source.wait(body, min(remaining, 5.0))  # Redis news: returns as soon as something happened
        else:
            time.sleep(min(remaining, 1.0))
        body = api.get(metadata["namespace"], metadata["name"])
    return body
