"""Following a Workflow on the cluster until it finishes, and saying how it ended.

On a terminal: a live tree of the canvas with each task's state and duration, above a
progress bar (large canvases show the running tasks instead of the whole tree). Without
one: a line per task as it starts and finishes. Both on stderr: stdout keeps only the
result, as with `kubecanvas run`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kubecanvas.cli.clusteropts import FINISHED, compile_quietly
from kubecanvas.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from kubecanvas.cli.canvasview import CanvasView
    from kubecanvas.client.cluster import WorkflowApi
    from kubecanvas.client.sources import StateSource
    from kubecanvas.report.document import WorkflowDocument

__all__ = ["print_outcome", "watch"]

LIVE_TREE_LIMIT = 60  # more tasks than this: the live view lists the running ones only
_SHOWN_RUNNING = 8


def watch(api: WorkflowApi, body: Mapping[str, Any], source: StateSource) -> WorkflowDocument:
    """Follow the workflow until it has finished; its final document."""
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    live = console.is_terminal  # the display is on stderr; stdout may be captured
    metadata = body["metadata"]
    try:
        if live:
            return _watch_live(api, body, source, console)
        return _watch_lines(api, body, source, console)
    except KeyboardInterrupt:
        raise CliError(
            f"stopped watching; workflow {metadata['namespace']}/{metadata['name']} keeps running "
            f"(kubecanvas revoke {metadata['name']} stops it)",
            EXIT_INTERRUPTED,
        ) from None


def _next_document(
    api: WorkflowApi, body: Mapping[str, Any], source: StateSource
) -> tuple[Mapping[str, Any], WorkflowDocument]:
    document = source.document(body)
    if not document["tasks"] and document["phase"] not in FINISHED:
        metadata = body["metadata"]  # not started yet: maybe refused (invalid), which only the status says
        body = api.get(metadata["namespace"], metadata["name"])
        document = source.document(body)
    return body, document


def _watch_live(
    api: WorkflowApi, body: Mapping[str, Any], source: StateSource, console: Console
) -> WorkflowDocument:
    from rich.live import Live

    from kubecanvas.cli.canvasview import CanvasView

    graph = compile_quietly(body)
    canvas = (body.get("spec") or {}).get("canvas")
    name = body["metadata"]["name"]
    started = time.time()
    with Live(console=console, refresh_per_second=4, transient=False, redirect_stdout=False) as display:
        while True:
            body, document = _next_document(api, body, source)
            view = CanvasView(name, canvas, graph, document)
            display.update(_render(view, started))
            if document["phase"] in FINISHED:
                return document
            source.wait(body, 1.0)


def _render(view: CanvasView, started: float) -> RenderableType:
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    from kubecanvas.cli.canvasview import STATE_STYLES, format_seconds

    tasks = list(view.tasks.values())
    total = len(tasks) or len(view.nodes)
    done = sum(task["state"] in ("SUCCESS", "FAILURE", "REVOKED") for task in tasks)
    now = time.time()
    bar = Table.grid(padding=(0, 1))
    counts = Text()
    for state, style in STATE_STYLES.items():
        count = sum(task["state"] == state for task in tasks)
        if count:
            counts.append(f"{state} {count}  ", style=style)
    bar.add_row(
        ProgressBar(total=max(total, 1), completed=done, width=40),
        Text(f"{done}/{total} tasks"),
        Text(format_seconds(now - started), style="dim"),
        counts,
    )
    if total <= LIVE_TREE_LIMIT:
        return Group(view.tree(now), bar)
    running = [task for task in tasks if task["state"] in ("STARTED", "RETRY")]
    lines = Text(style="cyan")
    for task in running[:_SHOWN_RUNNING]:
        lines.append("  ")
        lines.append(view.label(task["id"], now))
        lines.append("\n")
    if len(running) > _SHOWN_RUNNING:
        lines.append(f"  ... and {len(running) - _SHOWN_RUNNING} more\n")
    return Group(Text(view.name, style="bold"), lines, bar)


def _watch_lines(
    api: WorkflowApi, body: Mapping[str, Any], source: StateSource, console: Console
) -> WorkflowDocument:
    from kubecanvas.cli.canvasview import duration_of, format_seconds

    seen: dict[str, tuple[str, int]] = {}
    while True:
        body, document = _next_document(api, body, source)
        for task in document["tasks"]:
            key = (task["state"], task["attempts"])
            if seen.get(task["id"]) == key or task["state"] == "PENDING":
                continue
            seen[task["id"]] = key
            line = f"{task['id']} {task['task']} {task['state']}"
            if task["attempts"] > 1:
                line += f" (attempt {task['attempts']})"
            seconds = duration_of(task)
            if seconds is not None and task["state"] in ("SUCCESS", "FAILURE", "REVOKED"):
                line += f" {format_seconds(seconds)}"
            if task["error"] and task["state"] != "SUCCESS":
                line += f": {task['error']['type']}: {task['error']['message']}"
            console.print(line, markup=False, soft_wrap=True)
        if document["phase"] in FINISHED:
            return document
        source.wait(body, 1.0)


def print_outcome(document: WorkflowDocument, namespace: str, elapsed: float | None = None) -> int:
    """How it ended on stderr, the result (JSON) on stdout; the exit code."""
    from rich.console import Console
    from rich.text import Text

    console = Console(stderr=True, highlight=False)
    phase = document["phase"]
    counts: dict[str, int] = {}
    for task in document["tasks"]:
        counts[task["state"]] = counts.get(task["state"], 0) + 1
    style = {"Succeeded": "bold green", "Failed": "bold red"}.get(phase, "bold yellow")
    headline = Text(phase, style=style)
    total = len(document["tasks"])
    summary = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
    took = f" in {elapsed:.1f}s" if elapsed is not None else ""
    headline.append(f" {namespace}/{document['name']}{took} ({total} task{'' if total == 1 else 's'}")
    headline.append(f": {summary})" if summary else ")")
    console.print(headline)
    error = document["error"]
    if error is not None:
        line = Text("error: ", style="red")
        line.append(
            f"{error.get('task')}[{error.get('taskId')}] raised {error.get('type')}: {error.get('message')}"
        )
        console.print(line)
    if phase == "Succeeded" or document["result"] is not None:
        sys.stdout.write(json.dumps(document["result"], ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return EXIT_OK if phase == "Succeeded" else EXIT_FAILED
