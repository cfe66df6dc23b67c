"""`kubecanvas get NAME`: one Workflow on the cluster, with the state of each task."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kubecanvas.cli.clusteropts import NameArgument, NamespaceOption, RedisOption
from kubecanvas.cli.errors import EXIT_OK
from kubecanvas.resources import RETRY_OF_ANNOTATION

if TYPE_CHECKING:
    from kubecanvas.report.document import WorkflowDocument

__all__ = ["GetFormat", "get", "print_summary"]

MAX_ROWS = 50
_RESULT_PREVIEW = 300


class GetFormat(StrEnum):
    json = "json"
    yaml = "yaml"
    tree = "tree"


def get(
    name: NameArgument,
    namespace: NamespaceOption = None,
    output: Annotated[
        GetFormat | None,
        typer.Option(
            "--output",
            "-o",
            help="json or yaml: exactly the document `kubecanvas run -o json` prints; "
            "tree: the canvas with each task's state. Default: a summary.",
            show_default=False,
        ),
    ] = None,
    redis: RedisOption = None,
) -> None:
    """Show a Workflow: its phase, result or root cause, and every task's state."""
    from kubecanvas.cli.clusteropts import connect, namespace_of, state_source

    target = namespace_of(namespace)
    api = connect()
    body = api.get(target, name)
    with state_source(api, redis) as source:
        document = source.document(body)
    if output in (GetFormat.json, GetFormat.yaml):
        from kubecanvas.cli.output import OutputFormat, print_document

        print_document(document, OutputFormat(output.value))
    elif output == GetFormat.tree:
        from rich.console import Console

        from kubecanvas.cli.canvasview import CanvasView
        from kubecanvas.cli.clusteropts import compile_quietly

        view = CanvasView(name, (body.get("spec") or {}).get("canvas"), compile_quietly(body), document)
        Console(highlight=False, width=None if sys.stdout.isatty() else 240).print(view.tree())
    else:
        print_summary(body, document)
    raise typer.Exit(EXIT_OK)


def print_summary(body: Mapping[str, Any], document: WorkflowDocument) -> None:
    """For a person, on stdout: the workflow's fields, then one line per task."""
    from kubecanvas._kits.timestamps import from_rfc3339
    from kubecanvas.cli.canvasview import duration_of, format_seconds
    from kubecanvas.cli.clusteropts import format_table
    from kubecanvas.cli.result import describe_error

    status = body.get("status") or {}
    metadata = body["metadata"]
    tasks = document["tasks"]
    phase = document["phase"]
    counts: dict[str, int] = {}
    for task in tasks:
        counts[task["state"]] = counts.get(task["state"], 0) + 1
    done = sum(counts.get(state, 0) for state in ("SUCCESS", "FAILURE", "REVOKED"))
    if tasks:
        phase += f" ({done}/{len(tasks)} tasks: "
        phase += ", ".join(f"{count} {state}" for state, count in sorted(counts.items())) + ")"
    fields: list[tuple[str, str]] = [
        ("Name", metadata["name"]),
        ("Namespace", metadata["namespace"]),
        ("Phase", phase),
    ]
    if status.get("message"):
        fields.append(("Message", str(status["message"])))
    started, finished = status.get("startedAt"), status.get("finishedAt")
    if started:
        fields.append(("Started", str(started)))
    if finished:
        took = f" (took {format_seconds(from_rfc3339(finished) - from_rfc3339(started))})" if started else ""
        fields.append(("Finished", f"{finished}{took}"))
    elif started:
        fields.append(("Running for", format_seconds(time.time() - from_rfc3339(started))))
    retry_of = (metadata.get("annotations") or {}).get(RETRY_OF_ANNOTATION)
    if retry_of:
        fields.append(("Retry of", str(retry_of)))
    if document["phase"] == "Succeeded" or document["result"] is not None:
        value = json.dumps(document["result"], ensure_ascii=False)
        if len(value) > _RESULT_PREVIEW:
            value = value[: _RESULT_PREVIEW - 1] + f"… (kubecanvas result {metadata['name']})"
        fields.append(("Result", value))
    if document["error"] is not None:
        fields.append(("Error", describe_error(document["error"], status)))
    width = max(len(label) for label, _ in fields) + 2
    out = [f"{label + ':':<{width}}{value}" for label, value in fields]
    sys.stdout.write("\n".join(out) + "\n")
    if not tasks:
        return
    now = time.time()
    rows = []
    for task in tasks[:MAX_ROWS]:
        seconds = duration_of(task, now)
        failure = task["error"]
        rows.append(
            [
                task["id"],
                task["task"],
                task["state"],
                str(task["attempts"]),
                format_seconds(seconds) if seconds is not None else "",
                f"{failure['type']}: {failure['message']}"[:100] if failure else "",
            ]
        )
    sys.stdout.write("\n" + format_table(["ID", "TASK", "STATE", "ATTEMPTS", "DURATION", "ERROR"], rows))
    if len(tasks) > MAX_ROWS:
        sys.stdout.write(f"... and {len(tasks) - MAX_ROWS} more tasks (-o json lists them all)\n")
    sys.stdout.flush()
