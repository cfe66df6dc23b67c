"""A workflow's canvas with the state of each task: as a rich tree, for people.

The shape comes from the Workflow's `spec.canvas` (chains, groups, chords as the user
wrote them), the task ids from compiling it (deterministic: the operator's ids), and
the states from the workflow document. Each compiled node carries the spec path it came
from (`spec.canvas.chain[1].chord.body`), which is how tasks find their place; errbacks
appear under the task or canvas they are attached to once they ran, and anything that
found no place is listed at the end rather than lost.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rich.text import Text
from rich.tree import Tree

from kubecanvas._kits.timestamps import from_rfc3339

if TYPE_CHECKING:
    from kubecanvas.graph.nodes import Graph, TaskNode
    from kubecanvas.report.document import TaskEntry, WorkflowDocument

__all__ = ["STATE_STYLES", "CanvasView", "duration_of", "format_seconds"]

STATE_STYLES = {
    "PENDING": "dim",
    "STARTED": "cyan",
    "RETRY": "yellow",
    "SUCCESS": "green",
    "FAILURE": "red",
    "REVOKED": "magenta",
}
_PREVIEW = 40
_COMPOSITES = ("chain", "group", "chord", "map", "starmap", "chunks")


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def duration_of(task: Mapping[str, Any], now: float | None = None) -> float | None:
    """How long a task ran (so far, while it runs)."""
    started = task.get("startedAt")
    if not started:
        return None
    finished = task.get("finishedAt")
    end = from_rfc3339(finished) if finished else (now if now is not None else time.time())
    return max(0.0, end - from_rfc3339(started))


class CanvasView:
    """One workflow's canvas, graph and (optional) document, ready to draw."""

    def __init__(
        self,
        name: str,
        canvas: Mapping[str, Any] | None,
        graph: Graph | None,
        document: WorkflowDocument | None,
    ) -> None:
        self.name = name
        self.canvas = canvas
        self.graph = graph
        self.document = document
        entries: list[TaskEntry] = document["tasks"] if document is not None else []
        self.tasks: dict[str, TaskEntry] = {task["id"]: task for task in entries}
        self.nodes: dict[str, TaskNode] = {node.id: node for node in graph.nodes} if graph else {}
        self._by_path: dict[str, list[str]] = defaultdict(list)
        for node in graph.nodes if graph else ():
            self._by_path[node.path].append(node.id)
        self._errbacks: dict[str, str] = {}  # attachment path -> attachment id (e0)
        for attachment in graph.errbacks if graph else ():
            self._errbacks[attachment.path] = attachment.id

    # ------------------------------------------------------------ per task

    def state(self, task_id: str) -> str | None:
        task = self.tasks.get(task_id)
        return task["state"] if task else None

    def task_name(self, task_id: str) -> str:
        task = self.tasks.get(task_id)
        if task is not None:
            return task["task"]
        node = self.nodes.get(task_id)
        return node.task if node is not None else "?"

    def arguments(self, task_id: str) -> str:
        """`(2, 2, z=1)`, shortened: what the task was (or will be) called with."""
        task = self.tasks.get(task_id)
        node = self.nodes.get(task_id)
        if task is not None:
            args, kwargs = list(task["args"]), dict(task["kwargs"])
        elif node is not None:
            args, kwargs = list(node.args), dict(node.kwargs)
        else:
            return ""
        if node is not None and node.call in ("map", "starmap") and node.items is not None:
            return f"[{len(node.items)} items]"
        parts = [json.dumps(arg, ensure_ascii=False) for arg in args]
        parts += [f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in kwargs.items()]
        text = ", ".join(parts)
        if len(text) > _PREVIEW:
            text = text[: _PREVIEW - 1] + "…"
        return f"({text})"

    def label(self, task_id: str, now: float | None = None) -> Text:
        label = Text()
        label.append(task_id, style="bold")
        label.append(f" {self.task_name(task_id)}{self.arguments(task_id)}")
        state = self.state(task_id)
        if state is None:
            return label
        label.append(f"  {state}", style=STATE_STYLES.get(state, ""))
        task = self.tasks[task_id]
        if task["attempts"] > 1:
            label.append(f" (attempt {task['attempts']})", style="yellow")
        seconds = duration_of(task, now)
        if seconds is not None:
            label.append(f"  {format_seconds(seconds)}", style="dim")
        if state == "SUCCESS" and task["result"] is not None:
            value = json.dumps(task["result"], ensure_ascii=False)
            label.append(
                f"  → {value if len(value) <= _PREVIEW else value[: _PREVIEW - 1] + '…'}", style="dim"
            )
        error = task.get("error")
        if error and state in ("FAILURE", "REVOKED", "RETRY"):
            label.append(f"  {error['type']}: {error['message']}"[:120], style=STATE_STYLES.get(state, ""))
        return label

    # ------------------------------------------------------------ the tree

    def tree(self, now: float | None = None) -> Tree:
        title = Text(self.name, style="bold")
        if self.document is not None:
            phase = self.document["phase"]
            style = {"Succeeded": "bold green", "Failed": "bold red", "Revoked": "bold magenta"}.get(
                phase, "bold"
            )
            title.append(f"  {phase}", style=style)
        root = Tree(title, guide_style="dim")
        placed: set[str] = set()
        if self.canvas is not None and self.graph is not None:
            self._add(root, self.canvas, "spec.canvas", placed, now)
        rest = [task_id for task_id in self._all_ids() if task_id not in placed]
        if rest:
            other = root if not placed else root.add(Text("other tasks", style="italic"))
            for task_id in rest:
                other.add(self.label(task_id, now))
        return root

    def _all_ids(self) -> Iterable[str]:
        seen = dict.fromkeys(self.nodes)
        seen.update(dict.fromkeys(self.tasks))
        return seen

    def _add(self, parent: Tree, canvas: Any, path: str, placed: set[str], now: float | None) -> None:
        if not isinstance(canvas, Mapping):
            return
        kind = next((key for key in _COMPOSITES if key in canvas), None)
        if kind is None:  # a signature
            ids = self._by_path.get(path, [])
            if ids:
                branch = parent.add(self.label(ids[0], now))
                placed.add(ids[0])
            else:
                branch = parent.add(Text(f"{canvas.get('task', '?')} (not compiled)", style="dim"))
            self._callbacks(branch, canvas, path, placed, now)
            return
        value = canvas[kind]
        if kind in ("chain", "group") and isinstance(value, list):
            branch = parent.add(Text(kind if value else f"{kind} (empty)", style="italic"))
            for index, member in enumerate(value):
                self._add(branch, member, f"{path}.{kind}[{index}]", placed, now)
        elif kind == "chord" and isinstance(value, Mapping):
            branch = parent.add(Text("chord", style="italic"))
            header = value.get("header") or []
            heading = branch.add(Text("header" if header else "header (empty)", style="italic"))
            for index, member in enumerate(header):
                self._add(heading, member, f"{path}.chord.header[{index}]", placed, now)
            body = value.get("body")
            if isinstance(body, Mapping):
                self._add(branch.add(Text("body", style="italic")), body, f"{path}.chord.body", placed, now)
        else:  # map, starmap, chunks: fixed items, one node (or one per chunk)
            task = value.get("task", "?") if isinstance(value, Mapping) else "?"
            branch = parent.add(Text(f"{kind} {task}", style="italic"))
            prefix = f"{path}.{kind}"
            for node_path, ids in self._by_path.items():
                if node_path == prefix or node_path.startswith(prefix + "["):
                    for task_id in ids:
                        branch.add(self.label(task_id, now))
                        placed.add(task_id)
        self._callbacks(branch, canvas, path, placed, now)

    def _callbacks(
        self, branch: Tree, canvas: Mapping[str, Any], path: str, placed: set[str], now: float | None
    ) -> None:
        for index, callback in enumerate(canvas.get("link") or []):
            link = branch.add(Text("link", style="italic"))
            self._add(link, callback, f"{path}.link[{index}]", placed, now)
        for index, _errback in enumerate(canvas.get("linkError") or []):
            attachment = self._errbacks.get(f"{path}.linkError[{index}]")
            on_error = branch.add(Text("on error", style="italic"))
            ran = [task_id for task_id in self.tasks if attachment and task_id.startswith(f"{attachment}.")]
            if not ran:
                task = _errback_task(_errback)
                on_error.add(Text(f"{task} (not called)", style="dim"))
            for task_id in ran:
                on_error.add(self.label(task_id, now))
                placed.add(task_id)


def _errback_task(canvas: Any) -> str:
    if isinstance(canvas, Mapping):
        if "task" in canvas:
            return str(canvas["task"])
        for key in _COMPOSITES:
            if key in canvas:
                return key
    return "?"
