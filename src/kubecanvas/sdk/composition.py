"""The composite canvases: chain, group, chord, and the map family (xmap, xstarmap, chunks).

They keep the structure the caller wrote, so that a canvas read from YAML writes back
the same YAML; only `|` flattens plain chains, as Celery's does. Calling a chain, group,
chord or chunks submits it (Celery's `chain(...)()` is `apply_async`); calling a map or
starmap runs it here, as Celery's `xmap(...)()` does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar, Self

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas.errors import InvalidWorkflow, Problem
from kubecanvas.execution.task_import import resolve_task
from kubecanvas.sdk.canvas import Canvas, as_canvas, emit_task_name, emit_value
from kubecanvas.sdk.signatures import Signature, task_parts

__all__ = ["chain", "chord", "chunks", "group", "xmap", "xstarmap"]

CanvasLike = Canvas | Mapping[str, Any]


def _members(tasks: tuple[Any, ...]) -> list[Any]:
    """`f(a, b)` and `f([a, b])` / `f(generator)` alike, as Celery accepts both."""
    if (
        len(tasks) == 1
        and not isinstance(tasks[0], Canvas | Mapping | str)
        and isinstance(tasks[0], Iterable)
    ):
        return list(tasks[0])
    return list(tasks)


def _inner_repr(canvas: Canvas) -> str:
    return f"({canvas!r})" if isinstance(canvas, chain) else repr(canvas)


class chain(Canvas):  # noqa: N801 - Celery's name; used like a function
    """`a | b | c`: each task gets its parent's result prepended to its arguments."""

    _kind: ClassVar[str] = "chain"

    tasks: list[Canvas]

    def __init__(self, *tasks: CanvasLike | Iterable[CanvasLike], **options: Any) -> None:
        super().__init__()
        self.tasks = [as_canvas(task) for task in _members(tasks)]
        if options:
            self.set(**options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Submit the chain with partial args for its first task (Celery: `apply_async`)."""
        return self.apply_async(args, kwargs)

    def _emit(self, path: str, *, strict: bool) -> JSONObject:
        if strict and not self.tasks:
            raise InvalidWorkflow([Problem(f"{path}.chain", "must have at least 1 item(s): an empty chain")])
        steps: list[JSON] = [
            task._emit(f"{path}.chain[{i}]", strict=strict) for i, task in enumerate(self.tasks)
        ]
        return self._emit_common({"chain": steps}, path, strict=strict)

    def _copy(self) -> Self:
        twin = copy.copy(self)
        twin.tasks = [task._copy() for task in self.tasks]
        return self._copy_common(twin)

    def _label(self) -> str:
        return self.tasks[0]._label() if self.tasks else "chain"

    def __repr__(self) -> str:
        return " | ".join(_inner_repr(task) for task in self.tasks) if self.tasks else "chain()"


class group(Canvas):  # noqa: N801 - Celery's name; used like a function
    """Run members in parallel; the result is their results, in group order."""

    _kind: ClassVar[str] = "group"

    tasks: list[Canvas]

    def __init__(self, *tasks: CanvasLike | Iterable[CanvasLike], **options: Any) -> None:
        super().__init__()
        members = _members(tasks)
        if len(members) == 1 and isinstance(members[0], group) and members[0]._plain():
            members = list(members[0].tasks)  # group(group(...)) is that group, as in Celery
        self.tasks = [as_canvas(task) for task in members]
        if options:
            self.set(**options)

    def __call__(self, *args: Any, **options: Any) -> Any:
        """Submit the group, every member receiving `args` (Celery: `apply_async`)."""
        return self.apply_async(args, **options)

    def _set_immutable(self, immutable: bool) -> None:
        for task in self.tasks:
            task.set(immutable=immutable)

    def skew(self, start: float = 1.0, stop: float | None = None, step: float = 1.0) -> Self:
        """Spread the members' start (Celery's `group.skew`): member i gets the countdown
        `start + i * step`, held at its last value once `stop` would be passed."""
        countdowns = _fxrange(start, stop, step)
        for task in self.tasks:
            task.set(countdown=next(countdowns))
        return self

    def _emit(self, path: str, *, strict: bool) -> JSONObject:
        members: list[JSON] = [
            task._emit(f"{path}.group[{i}]", strict=strict) for i, task in enumerate(self.tasks)
        ]
        return self._emit_common({"group": members}, path, strict=strict)

    def _copy(self) -> Self:
        twin = copy.copy(self)
        twin.tasks = [task._copy() for task in self.tasks]
        return self._copy_common(twin)

    def _label(self) -> str:
        return self.tasks[0]._label() if self.tasks else "group"

    def __repr__(self) -> str:
        return f"group([{', '.join(map(repr, self.tasks))}])"


def _fxrange(start: float, stop: float | None, step: float) -> Iterator[float]:
    """Celery's `fxrange(start, stop, step, repeatlast=True)`, edge cases included."""
    current = float(start)
    while True:
        if not stop or current <= stop:
            yield current
            current += step
        else:
            yield current - step


class chord(Canvas):  # noqa: N801 - Celery's name; used like a function
    """A group (the header) whose results, as one list in header order, go to `body`."""

    _kind: ClassVar[str] = "chord"

    tasks: list[Canvas]
    body: Canvas | None

    def __init__(
        self, header: CanvasLike | Iterable[CanvasLike], body: CanvasLike | None = None, **options: Any
    ) -> None:
        super().__init__()
        if isinstance(header, group) and header._plain():
            members: list[Any] = list(header.tasks)
        elif isinstance(header, Canvas | Mapping):
            members = [header]
        else:
            members = list(header)
        self.tasks = [as_canvas(task) for task in members]
        self.body = None if body is None else as_canvas(body)
        if options:
            self.set(**options)

    @property
    def header(self) -> list[Canvas]:
        return self.tasks

    def __call__(self, body: CanvasLike | None = None, **options: Any) -> Any:
        """`chord(header)(body)`: submit the chord with this body (Celery: `apply_async`)."""
        target = self.clone()
        if body is not None:
            target.body = as_canvas(body)
        return target.apply_async(**options)

    def _emit(self, path: str, *, strict: bool) -> JSONObject:
        if strict and self.body is None:
            raise InvalidWorkflow(
                [Problem(f"{path}.chord", "'body' is required: chord(header, body) or chord(header)(body)")]
            )
        header: list[JSON] = [
            task._emit(f"{path}.chord.header[{i}]", strict=strict) for i, task in enumerate(self.tasks)
        ]
        body = None if self.body is None else self.body._emit(f"{path}.chord.body", strict=strict)
        return self._emit_common({"chord": {"header": header, "body": body}}, path, strict=strict)

    def _copy(self) -> Self:
        twin = copy.copy(self)
        twin.tasks = [task._copy() for task in self.tasks]
        twin.body = None if self.body is None else self.body._copy()
        return self._copy_common(twin)

    def _label(self) -> str:
        return self.tasks[0]._label() if self.tasks else (self.body._label() if self.body else "chord")

    def __repr__(self) -> str:
        return f"chord([{', '.join(map(repr, self.tasks))}], {self.body!r})"


class _MapBase(Canvas):
    """One task that calls the task once per item, in order, in one pod."""

    _form: ClassVar[str]

    task: str
    items: list[Any]

    def __init__(
        self, task: str | Callable[..., Any] | Signature, items: Iterable[Any], **options: Any
    ) -> None:
        name, function, defaults = _map_task(task, self._form)
        super().__init__()
        self.task = name
        self._type = function
        self.items = list(items)
        self.options = copy.deepcopy(dict(defaults))
        if options:
            self.set(**options)

    @property
    def type(self) -> Callable[..., Any]:
        if self._type is None:
            self._type = resolve_task(self.task)
        return self._type

    def _emit(self, path: str, *, strict: bool) -> JSONObject:
        parts: JSONObject = {
            "task": emit_task_name(self.task, f"{path}.{self._form}.task", strict=strict),
            "items": emit_value(self.items, f"{path}.{self._form}.items", strict=strict),
        }
        return self._emit_common({self._form: parts}, path, strict=strict)

    def _copy(self) -> Self:
        twin = copy.copy(self)
        twin.items = list(self.items)
        return self._copy_common(twin)

    def _label(self) -> str:
        return self.task

    def __repr__(self) -> str:
        return f"{self.task}.{self._form}({self.items!r})"


class xmap(_MapBase):  # noqa: N801 - Celery's name
    """`tsum.map(items)`: `[tsum(item) for item in items]` as one task."""

    _kind: ClassVar[str] = "map"
    _form: ClassVar[str] = "map"

    def __call__(self) -> list[Any]:
        """Run here, in this process, as Celery's `xmap(...)()` does."""
        return [self.type(item) for item in self.items]


class xstarmap(_MapBase):  # noqa: N801 - Celery's name
    """`add.starmap(items)`: `[add(*item) for item in items]` as one task."""

    _kind: ClassVar[str] = "starmap"
    _form: ClassVar[str] = "starmap"

    def __call__(self) -> list[Any]:
        """Run here, in this process, as Celery's `xstarmap(...)()` does."""
        return [self.type(*item) for item in self.items]


class chunks(Canvas):  # noqa: N801 - Celery's name
    """`add.chunks(items, n)`: the items split into starmap tasks of `n` items each,
    run as a group; the result is one list per chunk."""

    _kind: ClassVar[str] = "chunks"

    task: str
    items: list[Any]
    size: int

    def __init__(
        self, task: str | Callable[..., Any] | Signature, items: Iterable[Any], size: int, **options: Any
    ) -> None:
        name, function, defaults = _map_task(task, "chunks")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidWorkflow(
                [Problem("chunks.size", f"must be a whole number of at least 1, got {size!r}")]
            )
        super().__init__()
        self.task = name
        self._type = function
        self.items = list(items)
        self.size = size
        self.options = copy.deepcopy(dict(defaults))
        if options:
            self.set(**options)

    def group(self) -> group:
        """The same work as a group of starmap signatures, one per chunk (as Celery's)."""
        target: str | Callable[..., Any] = self._type if self._type is not None else self.task
        parts = [
            xstarmap(target, self.items[start : start + self.size])
            for start in range(0, len(self.items), self.size)
        ]
        for part in parts:  # the group carries the options; members inherit them
            part.options = {}
        return self._copy_common(group(parts))

    def __call__(self, **options: Any) -> Any:
        """Submit (Celery: `apply_async`)."""
        return self.apply_async(**options)

    def _emit(self, path: str, *, strict: bool) -> JSONObject:
        parts: JSONObject = {
            "task": emit_task_name(self.task, f"{path}.chunks.task", strict=strict),
            "items": emit_value(self.items, f"{path}.chunks.items", strict=strict),
            "size": self.size,
        }
        return self._emit_common({"chunks": parts}, path, strict=strict)

    def _copy(self) -> Self:
        twin = copy.copy(self)
        twin.items = list(self.items)
        return self._copy_common(twin)

    def _label(self) -> str:
        return self.task

    def __repr__(self) -> str:
        return f"{self.task}.chunks({self.items!r}, {self.size})"


def _map_task(task: object, form: str) -> tuple[str, Callable[..., Any] | None, Mapping[str, JSON]]:
    """The task of a map, starmap or chunks, with the options it carries."""
    if isinstance(task, Signature):
        if task.args or task.kwargs or task.callbacks or task.errbacks:
            raise TypeError(
                f"{form} calls {task.task} with each item alone: give the task (or a signature "
                "without arguments or callbacks), not a partial call"
            )
        return task.task, task._type, task.options
    return task_parts(task)
