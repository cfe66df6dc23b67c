"""Names of tasks and exceptions as they travel in a Workflow: dotted import paths.

A task is found by the runtime through its dotted path alone, so a name is only
useful if `importlib` can follow it from a fresh process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubecanvas.errors import Problem

__all__ = ["callable_name", "exception_name", "task_name_problem"]


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
