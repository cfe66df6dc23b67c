"""`@task`: a function with a name, default options and a retry policy.

The decorator is optional (any importable function named by its dotted path is a
task); it adds Celery's conveniences: `add.s(2)`, `bind=True` with `self.request` and
`self.retry()`, `autoretry_for` with backoff, and default options for every signature
made from the task. Calling the task runs the function here, in this process.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, Literal, NoReturn, ParamSpec, TypedDict, TypeVar, overload

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas.errors import Retry
from kubecanvas.execution.hooks import TaskHooks
from kubecanvas.execution.request import Request, current_request, task_call
from kubecanvas.execution.task_import import register_task
from kubecanvas.sdk.call_options import normalize_options
from kubecanvas.sdk.calling import queue_options
from kubecanvas.sdk.composition import chunks, xmap, xstarmap
from kubecanvas.sdk.signatures import Signature
from kubecanvas.sdk.task_names import callable_name, exception_name

if TYPE_CHECKING:
    from datetime import timedelta
    from typing import Concatenate, Unpack

__all__ = ["UNBOUNDED_RETRIES", "Task", "TaskSettings", "make_task", "shared_task", "task"]

P = ParamSpec("P")
R = TypeVar("R")

UNBOUNDED_RETRIES = 1000
"""What Celery's `max_retries=None` (retry forever) becomes: the Workflow's upper limit."""


class TaskSettings(TypedDict, total=False):
    """What `@task(...)` accepts besides `bind`: Celery's task settings, then the
    default options of every signature made from the task."""

    name: str
    max_retries: int | None
    default_retry_delay: float
    autoretry_for: Iterable[type[BaseException]] | type[BaseException]
    retry_backoff: bool | float
    retry_backoff_max: float
    retry_jitter: bool
    retry_kwargs: Mapping[str, Any]
    ignore_result: bool
    acks_late: bool
    time_limit: float
    soft_time_limit: float
    countdown: float | timedelta
    expires: float | timedelta | datetime
    timeout: float | timedelta
    retries: Mapping[str, Any]
    image: str
    resources: Mapping[str, Any]
    env: Mapping[str, str] | list[Mapping[str, Any]]
    node_selector: Mapping[str, str]
    tolerations: list[Mapping[str, Any]]
    service_account_name: str
    priority: int


_SETTINGS = (
    "name",
    "max_retries",
    "default_retry_delay",
    "autoretry_for",
    "retry_backoff",
    "retry_backoff_max",
    "retry_jitter",
    "retry_kwargs",
    "ignore_result",
    "acks_late",
)
_RETRY_KWARGS = {"max_retries", "countdown"}
"""What Celery's `retry_kwargs` (the autoretry's `self.retry(...)` arguments) can say here."""
_REFUSED_SETTINGS = {
    "rate_limit": "limit how many tasks run at once with the Workflow's parallelism "
    "(spec.parallelism, or parallelism= when building it)",
}


class Task(TaskHooks, Generic[P, R]):
    """A task function with Celery's task API. Calling it calls the function.

    Subclass it as a Celery Task class and use it with `@task(base=MyTask)`: class
    attributes are the defaults of `@task`'s settings (`max_retries = 5`), and the handlers
    `before_start`, `on_success`, `on_failure`, `on_retry`, `after_return` run around each
    attempt where the task runs (`execution/hooks.py`), not when it is called directly."""

    name: str
    bind: bool
    max_retries: int | None = 3
    default_retry_delay: float = 180
    autoretry_for: tuple[type[BaseException], ...] = ()
    retry_backoff: bool | float = False
    retry_backoff_max: float = 600
    retry_jitter: bool = True
    retry_kwargs: Mapping[str, Any] = MappingProxyType({})
    ignore_result: bool = False
    """Accepted for Celery's sake: results are always kept (the next task of a chain needs them)."""
    acks_late: bool = True
    """Accepted for Celery's sake: a task whose pod dies is retried per its retry policy,
    as Celery does with `acks_late=True` and `task_reject_on_worker_lost`."""
    options: JSONObject
    """Default options of the task's signatures, in the Workflow's spelling."""
    __wrapped__: Callable[..., R]
    __name__: str
    __qualname__: str

    def __init__(
        self, function: Callable[..., R], *, bind: bool = False, **settings: Unpack[TaskSettings]
    ) -> None:
        functools.update_wrapper(self, function)
        self._function = function
        given: dict[str, Any] = dict(settings)
        for key, instead in _REFUSED_SETTINGS.items():
            if key in given:
                raise TypeError(f"@task({key}=...) is not supported: {instead}")
        cls = type(self)
        self.name = given.pop("name", None) or callable_name(function)
        self.bind = bind
        self.max_retries = given.pop("max_retries", cls.max_retries)
        self.default_retry_delay = float(given.pop("default_retry_delay", cls.default_retry_delay))
        kinds = given.pop("autoretry_for", cls.autoretry_for)
        self.autoretry_for = (kinds,) if isinstance(kinds, type) else tuple(kinds)
        for kind in self.autoretry_for:
            exception_name(kind)  # TypeError now, not when the first retry is due
        self.retry_backoff = given.pop("retry_backoff", cls.retry_backoff)
        self.retry_backoff_max = float(given.pop("retry_backoff_max", cls.retry_backoff_max))
        self.retry_jitter = bool(given.pop("retry_jitter", cls.retry_jitter))
        self.retry_kwargs = dict(given.pop("retry_kwargs", cls.retry_kwargs))
        if unknown := sorted(set(self.retry_kwargs) - _RETRY_KWARGS):
            raise TypeError(
                f"@task({self.name}): retry_kwargs {unknown} mean nothing here; "
                f"it takes {sorted(_RETRY_KWARGS)} (the retry policy's limit and delay)"
            )
        self.ignore_result = bool(given.pop("ignore_result", cls.ignore_result))
        self.acks_late = bool(given.pop("acks_late", cls.acks_late))
        where = f"@task({self.name})"
        self.options = normalize_options(queue_options(given, where), where, also_known=(*_SETTINGS, "bind"))
        if "taskId" in self.options:
            raise TypeError(
                f"{where}: task_id is one call's id, not the task's: give it when calling, "
                "apply_async(task_id=...) or .set(task_id=...)"
            )
        register_task(self.name, function.__module__, self)  # found by name, as in Celery's registry

    # -- calling --------------------------------------------------------------------

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the function here; under the runtime, with the runtime's request."""
        with task_call(self.name, args, kwargs):
            return self.run(*args, **kwargs)

    def run(self, *args: Any, **kwargs: Any) -> R:
        """The function itself, given the task as `self` when `bind=True`."""
        if self.bind:
            return self._function(self, *args, **kwargs)
        return self._function(*args, **kwargs)

    @property
    def request(self) -> Request:
        """The request of this task's call in progress (`called_directly` outside the runtime)."""
        request = current_request.get()
        if request is not None and request.task == self.name:
            return request
        return Request(task=self.name, called_directly=True)

    @property
    def time_limit(self) -> float | None:
        """Celery's `time_limit`: the hard limit, kept as the signatures' `timeout` option."""
        timeout = self.options.get("timeout")
        return float(timeout) if isinstance(timeout, int | float) else None

    @property
    def soft_time_limit(self) -> float | None:
        """Celery's `soft_time_limit`, kept as the signatures' `softTimeout` option."""
        soft = self.options.get("softTimeout")
        return float(soft) if isinstance(soft, int | float) else None

    # -- retries --------------------------------------------------------------------

    def retry(
        self,
        *,
        exc: BaseException | None = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        eta: datetime | None = None,
    ) -> NoReturn:
        """Ask for another attempt (always raises): `raise self.retry(exc=e, countdown=5)`.

        Without a countdown the retry rule's delay applies (Workflow `retries.delay`,
        else this task's `default_retry_delay` or backoff). Past the last retry the task
        fails with `exc` when given, else with MaxRetriesExceededError, as in Celery (the
        exception being handled is named in the retry's message). Called directly, outside
        the runtime, it raises `exc` (or the exception being handled) as Celery does: there
        is nobody to retry it.
        """
        if eta is not None:
            countdown = max((eta - datetime.now(UTC)).total_seconds(), 0.0)
        handled = sys.exc_info()[1]
        if self.request.called_directly:
            if exc is not None:
                raise exc
            if handled is not None:
                raise handled
            raise Retry("Task can be retried", countdown=countdown, max_retries=max_retries)
        raise Retry(exc=exc, countdown=countdown, max_retries=max_retries, cause=handled)

    def retry_rule(self) -> JSONObject:
        """This task's retry policy in the engine's vocabulary (`engine.retries.retry_rule`
        merges the Workflow's `options.retries` over it, field by field).

        Celery's countdown `factor * 2**retries` is `delay=factor, backoff=2` here; an
        empty `autoretryFor` means no automatic retry, as Celery's `autoretry_for=()`.
        """
        if self.retry_backoff:
            factor = 1.0 if self.retry_backoff is True else float(self.retry_backoff)
            delay, backoff, backoff_max, jitter = factor, 2.0, self.retry_backoff_max, self.retry_jitter
        else:
            delay, backoff, backoff_max, jitter = self.default_retry_delay, 1.0, None, False
        kinds: list[JSON] = [exception_name(kind) for kind in self.autoretry_for]
        limit = self.retry_kwargs.get("max_retries", self.max_retries)
        if "countdown" in self.retry_kwargs and not self.retry_backoff:  # backoff wins, as in Celery
            delay = float(self.retry_kwargs["countdown"])
        return {
            "max": UNBOUNDED_RETRIES if limit is None else limit,
            "delay": delay,
            "backoff": backoff,
            "backoffMax": backoff_max,
            "jitter": jitter,
            "autoretryFor": kinds,
        }

    # -- signatures -----------------------------------------------------------------

    def s(self, *args: Any, **kwargs: Any) -> Signature:
        """A signature with partial arguments: `add.s(2)`."""
        return Signature(self, args, kwargs)

    def si(self, *args: Any, **kwargs: Any) -> Signature:
        """An immutable signature: it ignores its parent's result and call-time arguments."""
        return Signature(self, args, kwargs, immutable=True)

    def signature(
        self,
        args: Iterable[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        *,
        immutable: bool = False,
        **options: Any,
    ) -> Signature:
        """A signature with options: `add.signature((2,), countdown=10)`."""
        return Signature(self, args, kwargs, immutable=immutable, options=options)

    def map(self, items: Iterable[Any]) -> xmap:
        return xmap(self, items)

    def starmap(self, items: Iterable[Iterable[Any]]) -> xstarmap:
        return xstarmap(self, items)

    def chunks(self, items: Iterable[Iterable[Any]], n: int) -> chunks:
        return chunks(self, items, n)

    def apply_async(
        self,
        args: Iterable[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        *,
        namespace: str | None = None,
        name: str | None = None,
        code: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        """Submit one call of the task to the cluster (see `Signature.apply_async`)."""
        return self.s().apply_async(args, kwargs, namespace=namespace, name=name, code=code, **options)

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        return self.apply_async(args, kwargs)

    def apply(
        self, args: Iterable[Any] | None = None, kwargs: Mapping[str, Any] | None = None, **options: Any
    ) -> Any:
        """Run one call with the local eager runner (see `Signature.apply`)."""
        return self.s().apply(args, kwargs, **options)

    def __repr__(self) -> str:
        return f"<@task: {self.name}>"


@overload
def task(function: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(
    *, bind: Literal[True], base: type[Task[Any, Any]] | None = None, **settings: Unpack[TaskSettings]
) -> Callable[[Callable[Concatenate[Any, P], R]], Task[P, R]]: ...


@overload
def task(
    *,
    bind: Literal[False] = False,
    base: type[Task[Any, Any]] | None = None,
    **settings: Unpack[TaskSettings],
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(
    function: Callable[..., Any] | None = None,
    /,
    *,
    bind: bool = False,
    base: type[Task[Any, Any]] | None = None,
    **settings: Any,
) -> Any:
    """Make a function a task: `@task` or `@task(bind=True, max_retries=5, image=...)`;
    `base=MyTask` makes it an instance of that Task subclass (its handlers and defaults).

    The task's name is the function's dotted path (`module.qualname`), which is how
    the runtime imports it in its pod: define tasks in an importable module, not in
    `__main__` or inside another function (or give `name=`).
    """
    if function is not None:
        return make_task(function, bind=bind, base=base, settings=settings)

    def decorate(target: Callable[..., Any]) -> Task[Any, Any]:
        return make_task(target, bind=bind, base=base, settings=settings)

    return decorate


def make_task(
    function: Callable[..., Any],
    *,
    bind: bool = False,
    base: type[Task[Any, Any]] | None = None,
    settings: Mapping[str, Any],
) -> Task[Any, Any]:
    """What `@task(...)` does to `function` (and `@app.task`, with the app's defaults)."""
    kind = Task if base is None else base
    if not (isinstance(kind, type) and issubclass(kind, Task)):
        raise TypeError(f"@task(base=...) takes a subclass of kubecanvas.Task, not {base!r}")
    return kind(function, bind=bind, **settings)


shared_task = task
"""Celery's `@shared_task`: there is no app to share tasks between, so it is `@task`."""
