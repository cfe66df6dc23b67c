"""Names of tasks and exceptions as they travel in a Workflow: dotted import paths.

A task is found by the runtime through its dotted path alone, so a name is only
useful if `importlib` can follow it from a fresh process.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from kubecanvas.errors import Problem

__all__ = ["callable_name", "exception_name", "resolve", "task_name_problem"]


def callable_name(function: Callable[..., Any]) -> str:
    """`module.qualname` of a function: the name the runtime imports it by."""
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    if not module or not qualname:
        raise TypeError(f"{function!r} has no module and name to import it by; give the task a name=")
    return f"{module}.{qualname}"


def exception_name(kind: type[BaseException] | str) -> str:
    """`ValueError` for builtins, `module.Name` otherwise (the engine matches these names)."""
    if isinstance(kind, str):
        return kind
    if not (isinstance(kind, type) and issubclass(kind, BaseException)):
        raise TypeError(f"autoretry_for takes exception classes, not {kind!r}")
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def task_name_problem(name: str, path: str) -> Problem | None:
    """Explain names that look fine here but cannot be imported by the runtime."""
    if name.startswith("__main__."):
        return Problem(
            path,
            f"task {name!r} is defined in the __main__ module, which the runtime cannot import: "
            "move it to an importable module (for example tasks.py) or give it name='module.function'",
        )
    if "<locals>" in name or "<lambda>" in name:
        return Problem(
            path,
            f"task {name!r} is a nested function or lambda, which the runtime cannot import: "
            "define it at the top level of a module",
        )
    return None


def resolve(name: str) -> Callable[..., Any]:
    """Import the function named by a dotted path (`pkg.mod.func` or `pkg.mod.Class.method`)."""
    parts = name.split(".")
    error: ImportError | None = None
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            target: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as missing:
            if missing.name is not None and not module_name.startswith(missing.name):
                raise  # the module exists but imports something missing: say that, not "not found"
            error = error or missing
            continue
        try:
            for attribute in parts[cut:]:
                target = getattr(target, attribute)
        except AttributeError:
            raise ImportError(f"cannot import task {name!r}: {module_name!r} has no {attribute!r}") from None
        if not callable(target):
            raise ImportError(f"cannot import task {name!r}: it is a {type(target).__name__}, not a function")
        function: Callable[..., Any] = target
        return function
    raise ImportError(f"cannot import task {name!r}: no importable module in that path") from error
