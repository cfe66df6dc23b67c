"""A recorded failure as a Python exception again: what `res.get()` raises, what an errback gets.

A failure crosses processes by name (`TaskFailure`: type, module, class names, message),
never pickled. Turning it back into an exception must not let stored data choose code to
run: the names come from Redis, which task pods write. So no module is ever imported here
(Celery imported the module named in the result and had to fix it, CVE-2021-23727). The
class is found only where it is already loaded:

1. `module.Type` when `module` is already in `sys.modules` (the caller imported the task's
   code, as a Celery caller does) and the attribute is an `Exception` subclass;
2. a built-in exception of that name (`KeyError`, `ValueError`, ...);
3. otherwise a stand-in class of the same name and module, derived from the nearest
   built-in class in the failure's recorded hierarchy, so `except ValueError` still catches
   a task's `class Invalid(ValueError)` that this process never imported.

Stand-in classes are made once per (module, name), so `except` clauses and `isinstance`
agree between two results of the same failure.
"""

from __future__ import annotations

import builtins
import sys

from kubecanvas._kits.wirevalues import from_wire
from kubecanvas.engine.states import TaskFailure

__all__ = ["rebuild_exception"]

_stand_ins: dict[tuple[str, str, type[Exception]], type[Exception]] = {}


def rebuild_exception(failure: TaskFailure) -> Exception:
    """The exception `failure` describes, of its own class when that class is loaded."""
    kind = _loaded_class(failure.module, failure.type) or _builtin(failure.type)
    args = tuple(from_wire(list(failure.args))) if failure.args is not None else (failure.message,)
    if kind is not None:
        try:
            return kind(*args)
        except Exception:  # noqa: BLE001, S110 - a class that wants other arguments gets a stand-in
            pass
    return _stand_in(failure)(*args)


def _loaded_class(module_name: str | None, name: str) -> type[Exception] | None:
    module = sys.modules.get(module_name) if module_name else None
    if module is None:
        return None
    found = getattr(module, name, None)
    return found if isinstance(found, type) and issubclass(found, Exception) else None


def _builtin(name: str) -> type[Exception] | None:
    found = getattr(builtins, name, None)
    return found if isinstance(found, type) and issubclass(found, Exception) else None


def _stand_in(failure: TaskFailure) -> type[Exception]:
    """A class named like the original, under the nearest built-in base it recorded."""
    base: type[Exception] = Exception
    for name in failure.types:
        if name == failure.type or "." in name:
            continue  # the class itself, or a qualified name of a non-built-in class
        found = _builtin(name)
        if found is not None:
            base = found
            break
    module = failure.module or "builtins"
    key = (module, failure.type, base)
    if key not in _stand_ins:
        _stand_ins[key] = type(failure.type, (base,), {"__module__": module})
    return _stand_ins[key]
