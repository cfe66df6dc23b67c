"""The one rule for finding a task by its dotted name, for the task pod, the local runner and
the SDK (`signature("proj.tasks.add")`) alike: a name is only useful if a fresh process
can follow it with `importlib`."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from kubecanvas.errors import TaskImportError

__all__ = ["resolve_task"]


def resolve_task(dotted: str) -> Callable[..., Any]:
    """Import `package.module.function` (or `module.Class.method`); TaskImportError if that
    path leads nowhere. An ImportError raised by the task's own module is left as it is."""
    parts = dotted.split(".")
    errors: list[str] = []
    for split in range(len(parts) - 1, 0, -1):
        module_name, attributes = ".".join(parts[:split]), parts[split:]
        try:
            target: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name and module_name.startswith(error.name):
                errors.append(str(error))
                continue  # this prefix is not a module; try a shorter one
            raise  # the module exists but imports something missing: the task's own bug
        try:
            for attribute in attributes:
                target = getattr(target, attribute)
        except AttributeError:
            raise TaskImportError(
                f"task {dotted!r} not found: module {module_name!r} has no {'.'.join(attributes)!r}"
            ) from None
        if not callable(target):
            raise TaskImportError(f"task {dotted!r} is a {type(target).__name__}, not a function")
        function: Callable[..., Any] = target
        return function
    found = f" ({errors[-1]})" if errors else ""
    raise TaskImportError(f"task {dotted!r} cannot be imported: no importable module in that path{found}")
