"""`Signature`: one task call with partial arguments, Celery's `add.s(2)`.

Arguments given later (by the parent in a chain, by the caller) are prepended and
keyword arguments merge with the caller's keys winning; an immutable signature
(`add.si(2)`) ignores them all and only merges options. The same rules hold in-process
(`sig(4)`), in `clone`, and in the Workflow.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Protocol, Self, overload

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas.execution.task_import import resolve_task
from kubecanvas.sdk.canvas import Canvas, as_canvas, emit_task_name, emit_value
from kubecanvas.sdk.task_names import callable_name

__all__ = ["Signature", "TaskLike", "signature", "task_parts"]


class TaskLike(Protocol):
    """What a signature needs from a `@task`: its name and default options."""

    @property
    def name(self) -> str: ...

    @property
    def options(self) -> Mapping[str, JSON]: ...

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


class Signature(Canvas):
    """One task call: the task's dotted name, partial `args` / `kwargs`, options and
    callbacks. Build it with `task.s(...)`, `task.si(...)` or `signature(...)`."""

    _kind: ClassVar[str] = "signature"

    task: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    immutable: bool

    def __init__(
        self,
        task: str | Callable[..., Any],
        args: Iterable[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        *,
        immutable: bool = False,
        options: Mapping[str, Any] | None = None,
        **more_options: Any,
    ) -> None:
        name, function, defaults = task_parts(task)
        super().__init__()
        self.task = name
        self.args = tuple(args or ())
        self.kwargs = dict(kwargs or {})
        self.immutable = immutable
        self._type = function
        self.options = copy.deepcopy(dict(defaults))
        given = {**(options or {}), **more_options}
        if given:
            self.set(**given)

    @property
    def name(self) -> str:
        """The task's name (duck-typing with `Task.name`, as in Celery)."""
        return self.task

    @property
    def type(self) -> Callable[..., Any]:
        """The task function, imported by name when the signature was made from one."""
        if self._type is None:
            self._type = resolve_task(self.task)
        return self._type

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task here, in this process, with the partial arguments applied."""
        call_args, call_kwargs = self._merge(args, kwargs)
        return self.type(*call_args, **call_kwargs)

    def _merge(
        self, args: Iterable[Any], kwargs: Mapping[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if self.immutable:
            return self.args, dict(self.kwargs)
        return (*args, *self.args), {**self.kwargs, **kwargs}

    def clone(
        self, args: Iterable[Any] | None = None, kwargs: Mapping[str, Any] | None = None, **options: Any
    ) -> Self:
        """A copy with `args` prepended and `kwargs` merged (both ignored when
        immutable) and `options` set over the signature's own, field by field."""
        twin = self._copy()
        twin.args, twin.kwargs = self._merge(args or (), kwargs or {})
        if options:
            twin.set(**options)
        return twin

    partial = clone

    def _set_immutable(self, immutable: bool) -> None:
        self.immutable = immutable

    def _copy(self) -> Self:
        twin = copy.copy(self)
        twin.kwargs = dict(self.kwargs)
        return self._copy_common(twin)

    def _emit(self, path: str, *, strict: bool) -> JSONObject:
        out: JSONObject = {"task": emit_task_name(self.task, f"{path}.task", strict=strict)}
        if self.args:
            out["args"] = emit_value(list(self.args), f"{path}.args", strict=strict)
        if self.kwargs:
            out["kwargs"] = emit_value(dict(self.kwargs), f"{path}.kwargs", strict=strict)
        if self.immutable:
            out["immutable"] = True
        return self._emit_common(out, path, strict=strict)

    def _label(self) -> str:
        return self.task

    def __repr__(self) -> str:
        parts = [repr(arg) for arg in self.args] + [f"{key}={value!r}" for key, value in self.kwargs.items()]
        text = f"{self.task}.{'si' if self.immutable else 's'}({', '.join(parts)})"
        return text + (f".set(**{self.options!r})" if self.options else "")


def task_parts(task: object) -> tuple[str, Callable[..., Any] | None, Mapping[str, JSON]]:
    """(name, function or None, default options) of a task given by name, `@task` or function."""
    if isinstance(task, str):
        return task, None, {}
    name = getattr(task, "name", None)
    defaults = getattr(task, "options", None)
    if callable(task) and isinstance(name, str) and isinstance(defaults, Mapping):
        return name, task, defaults
    if callable(task) and not isinstance(task, Canvas):
        return callable_name(task), task, {}
    raise TypeError(f"a task is a dotted name, a @task or a function, not {task!r}")


@overload
def signature(
    task: Canvas | Mapping[str, Any],
    args: Iterable[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    *,
    immutable: bool | None = None,
    options: Mapping[str, Any] | None = None,
    **more_options: Any,
) -> Canvas: ...


@overload
def signature(
    task: str | Callable[..., Any],
    args: Iterable[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    *,
    immutable: bool | None = None,
    options: Mapping[str, Any] | None = None,
    **more_options: Any,
) -> Signature: ...


def signature(
    task: str | Callable[..., Any] | Canvas | Mapping[str, Any],
    args: Iterable[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    *,
    immutable: bool | None = None,
    options: Mapping[str, Any] | None = None,
    **more_options: Any,
) -> Canvas:
    """A signature from a dotted name (`signature("conftasks.add", args=(2, 2))`), a
    `@task`, a plain function, or a canvas / its YAML mapping (copied, as Celery does)."""
    given = {**(options or {}), **more_options}
    if isinstance(task, Canvas | Mapping):
        canvas = as_canvas(task).clone(args, kwargs, **given)
        return canvas if immutable is None else canvas.set(immutable=immutable)
    return Signature(task, args, kwargs, immutable=bool(immutable), options=given)
