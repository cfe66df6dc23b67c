"""The one rule for finding a task by its name, for the task pod, the local runner and the
SDK (`signature("proj.tasks.add")`) alike.

First the workflow's `spec.imports` are imported (Celery's `imports` and `include`: the
modules a worker imports at start). Then a name in the form of an import path
(`package.module.function`, `module.Class.method`) is followed with `importlib`, as a fresh
process can; any other name (`add`, `sum-of-two-numbers`), or a path that leads nowhere, is
looked up among the tasks registered under an explicit name (`@task(name=...)`, Celery's
registry). A path goes first so that a stand-in registered under a real path's name (a
client's `@task(name="conftasks.add")`) never replaces the task that path leads to.

The modules imported are only those the Workflow names (its spec, which only its author
and the operator write), never a name read from Redis.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

from kubecanvas.canvas.names import is_import_path
from kubecanvas.errors import TaskImportError

__all__ = ["import_modules", "register_task", "registered_module", "registered_task", "resolve_task"]

_registered: dict[str, tuple[str, Callable[..., Any]]] = {}


def register_task(name: str, module: str, function: Callable[..., Any]) -> None:
    """Make `function`, defined in `module`, findable by `name` (the SDK's `@task` does this
    for every task; the last one registered under a name wins, as in Celery)."""
    _registered[name] = (module, function)


def registered_task(name: str) -> Callable[..., Any] | None:
    """The function registered under task `name` in this process, if one is (never imports)."""
    entry = _registered.get(name)
    return entry[1] if entry is not None else None


def registered_module(name: str) -> str | None:
    """The module that registered task `name` in this process, if one did."""
    entry = _registered.get(name)
    return entry[0] if entry is not None else None


def import_modules(modules: Iterable[str]) -> None:
    """Import the workflow's `spec.imports`; TaskImportError naming the one that is missing
    (an ImportError inside one of them is its own bug, and is left as it is)."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name and module.startswith(error.name):
                raise TaskImportError(
                    f"spec.imports: module {module!r} cannot be imported: {error}"
                ) from None
            raise


def resolve_task(name: str, imports: Iterable[str] = ()) -> Callable[..., Any]:
    """The task called `name`: registered under it once `imports` are imported, else found
    by its dotted path; TaskImportError if neither leads anywhere."""
    imports = tuple(imports)
    import_modules(imports)
    entry = _registered.get(name)
    if not is_import_path(name):
        if entry is not None:
            return entry[1]
        looked_in = f"by spec.imports ({', '.join(imports)})" if imports else "(spec.imports is empty)"
        raise TaskImportError(f"task {name!r} not found: no module registers a task of that name {looked_in}")
    try:
        return _by_path(name)
    except TaskImportError as error:
        if entry is not None:
            return entry[1]  # a dotted name that is no path, registered by one of the imports
        if not imports:
            raise
        raise TaskImportError(
            f"{error}; nor is it the name of a task registered by spec.imports ({', '.join(imports)})"
        ) from None


def _by_path(dotted: str) -> Callable[..., Any]:
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
