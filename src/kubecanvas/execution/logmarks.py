"""The lines a warm runner writes around each attempt in its pod's log, and their reading.

A warm runner (runtime/kubecanvas_runtime/runner.py) runs many attempts, one after the
other, in one pod: `kubecanvas logs` (cli/logs.py) finds each task's lines between these
two marks. One place spells them, for the writer and the reader.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["begin_mark", "end_mark", "split_attempts"]

_BEGIN = "[kubecanvas] >>> task {task_id} attempt {attempt}"
_END = "[kubecanvas] <<< task {task_id} attempt {attempt}"
_MARK = re.compile(r"^\[kubecanvas\] (>>>|<<<) task (\S+) attempt (\d+)$")


def begin_mark(task_id: str, attempt: int) -> str:
    return _BEGIN.format(task_id=task_id, attempt=attempt)


def end_mark(task_id: str, attempt: int) -> str:
    return _END.format(task_id=task_id, attempt=attempt)


def split_attempts(lines: Iterable[str]) -> dict[tuple[str, int], list[str]]:
    """The lines of each attempt in a runner's log, by (task id, attempt); the runner's own
    lines outside any attempt are left out. An attempt whose end mark is missing (the runner
    died) keeps the lines up to the next begin mark or the log's end."""
    found: dict[tuple[str, int], list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        mark = _MARK.match(line.rstrip("\n"))
        if mark is None:
            if current is not None:
                current.append(line.rstrip("\n"))
            continue
        kind, task_id, attempt = mark.groups()
        current = found.setdefault((task_id, int(attempt)), []) if kind == ">>>" else None
    return found
