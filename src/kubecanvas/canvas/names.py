"""What task and module names look like, and the one rule that tells a name the runtime
follows as an import path from one a module must register. Pure: the SDK reads it in task
pods, which must not import pydantic."""

from __future__ import annotations

import re

__all__ = ["MODULE_NAME", "TASK_ID", "TASK_NAME", "is_import_path"]

MODULE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
"""A module of `spec.imports`: a dotted Python name."""
TASK_NAME = r"^\S+$"
"""A task name: an import path (`conftasks.add`), or any name a module registers."""
TASK_ID = r"^[^\s]+$"
"""A task id given with Celery's `task_id` (`options.taskId`): any text without spaces."""
_IMPORT_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


def is_import_path(name: str) -> bool:
    """Whether a task name has the form of an import path (`module.function`), which the
    runtime follows; any other name is one a module of `spec.imports` must register."""
    return _IMPORT_PATH.fullmatch(name) is not None
