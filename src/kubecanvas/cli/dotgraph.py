"""A workflow as a Graphviz graph (the DOT language), coloured by task state.

Written here, not by a library: one box per task (id, task, state, duration) filled
with its state's colour, an arrow from each dependency, dashed boxes for `link`
callbacks and errbacks, dashed red arrows from a failure to the errback it triggered.
Chains, groups and chords show as the arrows they compile to. `render` turns the text
into SVG or PNG with Graphviz's `dot`, when it is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from typing import Any

from kubecanvas.cli.canvasview import CanvasView, duration_of, format_seconds
from kubecanvas.cli.errors import CliError

__all__ = ["FILL_COLOURS", "render", "to_dot"]

FILL_COLOURS = {
    None: "#ffffff",
    "PENDING": "#eeeeee",
    "STARTED": "#9ecae1",
    "RETRY": "#fdd49e",
    "SUCCESS": "#a1d99b",
    "FAILURE": "#fc9272",
    "REVOKED": "#dadaeb",
}


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def to_dot(view: CanvasView) -> str:
    lines = [
        f"digraph {_quote(view.name)} {{",
        "  rankdir=LR;",
        '  graph [fontname="Helvetica", fontsize=11, label=' + _quote(_title(view)) + ", labelloc=t];",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
        '  edge [color="#555555"];',
    ]
    ids = list(view.nodes) + [task_id for task_id in view.tasks if task_id not in view.nodes]
    for task_id in ids:
        state = view.state(task_id)
        label = f"{task_id}\n{view.task_name(task_id)}"
        if state is not None:
            task = view.tasks[task_id]
            label += f"\n{state}"
            if task["attempts"] > 1:
                label += f" ({task['attempts']} attempts)"
            seconds = duration_of(task)
            if seconds is not None:
                label += f" {format_seconds(seconds)}"
        attributes = [f"label={_quote(label)}", f'fillcolor="{FILL_COLOURS.get(state, "#ffffff")}"']
        node = view.nodes.get(task_id)
        if (node is not None and node.role == "callback") or "." in task_id:
            attributes.append('style="rounded,filled,dashed"')
        lines.append(f"  {_quote(task_id)} [{', '.join(attributes)}];")
    for node in view.nodes.values():
        for dependency in node.deps:
            lines.append(f"  {_quote(dependency)} -> {_quote(node.id)};")
    for task_id in view.tasks:
        if "." in task_id:  # an errback instance: from the failure that triggered it
            cause = _errback_cause(view, task_id)
            if cause is not None:
                lines.append(f'  {_quote(cause)} -> {_quote(task_id)} [style=dashed, color="#cb181d"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _title(view: CanvasView) -> str:
    if view.document is None:
        return view.name
    return f"{view.name} ({view.document['phase']})"


def _errback_cause(view: CanvasView, task_id: str) -> str | None:
    """The root failure of the errback's unit: its lowest-index task that failed on its own."""
    if view.graph is None:
        return None
    attachment_id, _, rest = task_id.partition(".")
    unit_text = rest.partition(".")[0]
    attachment = next((item for item in view.graph.errbacks if item.id == attachment_id), None)
    if attachment is None or not unit_text.isdigit() or int(unit_text) >= len(attachment.units):
        return None
    for member in attachment.units[int(unit_text)]:
        task = view.tasks.get(member)
        if task is None:
            continue
        error: Mapping[str, Any] = task.get("error") or {}
        if task["state"] == "FAILURE" and error.get("type") != "ChordError":
            return member
        if task["state"] == "REVOKED" and error.get("message") == "expired":
            return member
    return None


def render(dot: str, fmt: str) -> bytes:
    """SVG or PNG from DOT text, with Graphviz's `dot`."""
    program = shutil.which("dot")
    if program is None:
        raise CliError(
            f"--format {fmt} needs Graphviz's `dot` on PATH (Debian: apt-get install graphviz); "
            "--format dot works without it"
        )
    result = subprocess.run(
        [program, f"-T{fmt}"], input=dot.encode(), capture_output=True, check=False, timeout=120
    )
    if result.returncode != 0:
        raise CliError(f"dot -T{fmt} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout
