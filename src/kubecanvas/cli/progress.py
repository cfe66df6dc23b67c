"""Live progress of a local run on a terminal: a bar, counts by state, the tasks running.

Drawn on stderr, so stdout keeps only the result. Engine notices (retries, failures,
errbacks) are printed above the bar as they happen.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

if TYPE_CHECKING:
    from kubecanvas.engine.effects import Step
    from kubecanvas.engine.machine import Engine

__all__ = ["LiveProgress", "PlainNotices"]

_STATE_STYLES = {
    "PENDING": "dim",
    "STARTED": "cyan",
    "RETRY": "yellow",
    "SUCCESS": "green",
    "FAILURE": "red",
    "REVOKED": "magenta",
}
_SHOWN_RUNNING = 5


class LiveProgress:
    """An engine observer that keeps a rich Live display up to date.

    The display is redrawn from a snapshot taken in the runner's loop, never from the
    engine itself, which the refresh thread must not read while the loop changes it."""

    def __init__(self, name: str, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
        )
        self._bar = self._progress.add_task(name, total=None)
        self._counts: dict[str, int] = {}
        self._running: list[tuple[str, float]] = []  # (label, started at)
        self._live = Live(
            console=self.console,
            get_renderable=self._render,
            refresh_per_second=8,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def __enter__(self) -> LiveProgress:
        self._live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._live.__exit__(kind, error, trace)

    def __call__(self, engine: Engine, step: Step) -> None:
        for notice in step.notices:
            if notice.kind != "finished":
                self.console.print(Text(notice.message, style="yellow" if notice.warning else "dim"))
        self._progress.update(self._bar, total=engine.total, completed=engine.finished_count)
        self._counts = engine.counts()
        self._running = [
            (f"{engine.nodes[node_id].task}[{node_id}]", record.started_at or time.time())
            for node_id, record in engine.records.items()
            if record.state == "STARTED" and record.launched
        ]

    def _render(self) -> RenderableType:
        counts = Text()
        for state, style in _STATE_STYLES.items():
            if self._counts.get(state):
                counts.append(f"{state} {self._counts[state]}  ", style=style)
        running = Text(style="cyan")
        now = time.time()
        for label, started in self._running[:_SHOWN_RUNNING]:
            running.append(f"  {label} {now - started:.0f}s\n")
        if len(self._running) > _SHOWN_RUNNING:
            running.append(f"  ... and {len(self._running) - _SHOWN_RUNNING} more\n")
        return Group(self._progress, counts, running)


class PlainNotices:
    """An engine observer for logs (no terminal): notices as plain lines on stderr."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, no_color=True, highlight=False)

    def __call__(self, engine: Engine, step: Step) -> None:
        for notice in step.notices:
            if notice.kind != "finished":
                self.console.print(notice.message, markup=False, soft_wrap=True)
