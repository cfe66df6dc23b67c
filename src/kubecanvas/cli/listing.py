"""`kubecanvas list`: the Workflows of a namespace (or of all), from their status."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from kubecanvas.cli.clusteropts import NamespaceOption
from kubecanvas.cli.errors import EXIT_OK, EXIT_USAGE, CliError

__all__ = ["list_workflows"]


def list_workflows(
    namespace: NamespaceOption = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Workflows of every namespace.")
    ] = False,
) -> None:
    """List Workflows: name, phase, progress, age, duration and message."""
    if namespace and all_namespaces:
        raise CliError("give -n NS or -A, not both", EXIT_USAGE)
    from kubecanvas.cli.canvasview import format_seconds
    from kubecanvas.cli.clusteropts import connect, format_table, namespace_of

    target = None if all_namespaces else namespace_of(namespace)
    items = connect().workflows(target)
    if not items:
        where = "any namespace" if target is None else f"namespace {target}"
        typer.echo(f"No workflows found in {where}.", err=True)
        raise typer.Exit(EXIT_OK)
    items.sort(
        key=lambda item: (item["metadata"]["namespace"], item["metadata"].get("creationTimestamp", ""))
    )
    header = ["NAME", "PHASE", "PROGRESS", "AGE", "DURATION", "MESSAGE"]
    if target is None:
        header.insert(0, "NAMESPACE")
    now = time.time()
    rows = []
    for item in items:
        status = item.get("status") or {}
        metadata = item["metadata"]
        row = [
            metadata["name"],
            str(status.get("phase") or "Pending"),
            str(status.get("progress") or ""),
            _age(metadata.get("creationTimestamp"), now, format_seconds),
            _duration(status, now, format_seconds),
            str(status.get("message") or ""),
        ]
        if target is None:
            row.insert(0, metadata["namespace"])
        rows.append(row)
    sys.stdout.write(format_table(header, rows))
    raise typer.Exit(EXIT_OK)


def _age(created: str | None, now: float, fmt: Any) -> str:
    from kubecanvas._kits.timestamps import from_rfc3339

    return str(fmt(now - from_rfc3339(created))) if created else ""


def _duration(status: Mapping[str, Any], now: float, fmt: Any) -> str:
    from kubecanvas._kits.timestamps import from_rfc3339

    started, finished = status.get("startedAt"), status.get("finishedAt")
    if not started:
        return ""
    end = from_rfc3339(finished) if finished else now
    return str(fmt(end - from_rfc3339(started)))
