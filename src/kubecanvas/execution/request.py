"""The request of the task call in progress: `self.request` inside a bound task.

The runtime sets it around each call with `executing(request)`; a task called
directly in-process sees a request with `called_directly=True`, as in Celery. A
ContextVar rather than a global, so that threads and asyncio tasks each see theirs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Request", "current_request", "executing"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """What a task knows about its own call (Celery's `self.request`).

    `attempt` counts from 1 (`KUBECANVAS_ATTEMPT`); `retries` is Celery's count of
    retries before this attempt, so always `attempt - 1`. Custom `headers` (the `headers`
    option) read as in Celery 5: `request.headers`, `request.get(name)`, `request.<name>`.
    """

    task: str
    id: str | None = None
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    attempt: int = 1
    workflow: str | None = None
    namespace: str | None = None
    called_directly: bool = False
    headers: Mapping[str, Any] = field(default_factory=dict)

    @property
    def retries(self) -> int:
        return self.attempt - 1

    def get(self, name: str, default: Any = None) -> Any:
        """A field, else a custom header, else `default` (Celery's `Context.get`)."""
        try:
            return getattr(self, name)
        except AttributeError:
            return default

    def __getattr__(self, name: str) -> Any:
        # Only for names that are not fields: a custom header, as Celery's request has them.
        if not name.startswith("__"):
            headers = object.__getattribute__(self, "headers")
            if name in headers:
                return headers[name]
        raise AttributeError(f"the request has no field or header {name!r}")


current_request: ContextVar[Request | None] = ContextVar("kubecanvas_current_request", default=None)
"""The request of the call in progress, or None outside any task call."""

# Whether the task named by the runtime's request has already been entered, so that
# the same task called directly from inside itself gets a direct request of its own.
_entered: ContextVar[bool] = ContextVar("kubecanvas_request_entered", default=False)


@contextmanager
def executing(request: Request) -> Iterator[Request]:
    """Make `request` the current one for the duration of a task call.

    The runtime wraps its call of the task function (a `Task` or a plain function) in
    this; `Task.request` and `self.retry()` read it.
    """
    request_token = current_request.set(request)
    entered_token = _entered.set(False)
    try:
        yield request
    finally:
        _entered.reset(entered_token)
        current_request.reset(request_token)


@contextmanager
def task_call(task_name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Iterator[Request]:
    """The request a `Task` call runs under: the runtime's request for this task, the
    first time it is entered, otherwise a direct one (`called_directly=True`)."""
    request = current_request.get()
    if (
        request is not None
        and not request.called_directly
        and request.task == task_name
        and not _entered.get()
    ):
        token = _entered.set(True)
        try:
            yield request
        finally:
            _entered.reset(token)
        return
    direct = Request(task=task_name, args=tuple(args), kwargs=dict(kwargs), called_directly=True)
    with executing(direct):
        yield direct
