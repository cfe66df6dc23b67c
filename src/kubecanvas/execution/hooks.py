"""A task's own handlers, run where the task runs, as a Celery worker runs them.

Celery programs put work in a Task class: `before_start`, `on_success`, `on_failure`,
`on_retry`, `after_return` (logging, cleanup, notifications). A task object that has them
(`kubecanvas.Task` and its subclasses, `@task(base=MyTask)`) gets them called around each
attempt by `attempt.run_attempt`, in the pod or the local runner, with Celery's arguments.
Calling a task directly runs no handler, as in Celery.

What a handler raises: from `before_start` or `on_success` it fails the attempt (the task
did not do what it promised); from the others it is printed and the outcome stands, since
they run once the outcome is known.
"""

from __future__ import annotations

import sys
import traceback as tracebacks
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["ExceptionInfo", "TaskHooks", "quietly"]


@runtime_checkable
class TaskHooks(Protocol):
    """Celery's Task handlers, by their Celery signatures; `kubecanvas.Task` inherits these
    do-nothing defaults, and a Task class overrides the ones it needs."""

    def before_start(self, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Before the task runs."""
        return

    def on_success(self, retval: Any, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """After the task returned `retval` (raising here fails the attempt)."""
        return

    def on_failure(
        self, exc: BaseException, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], einfo: Any
    ) -> None:
        """After the task raised `exc`; `einfo.traceback` is its traceback text."""
        return

    def on_retry(
        self, exc: BaseException, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], einfo: Any
    ) -> None:
        """After the task asked for a retry, or failed in a way its retry policy retries."""
        return

    def after_return(  # noqa: PLR0917 - Celery's signature
        self,
        status: str,
        retval: Any,
        task_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        einfo: Any,
    ) -> None:
        """After any of the above; `status` is SUCCESS, FAILURE or RETRY."""
        return


@dataclass(frozen=True, slots=True)
class ExceptionInfo:
    """What Celery's `einfo` offers a handler: the exception, its type and traceback text."""

    exception: BaseException
    type: type[BaseException]
    traceback: str

    @classmethod
    def of(cls, error: BaseException) -> ExceptionInfo:
        text = "".join(tracebacks.format_exception(type(error), error, error.__traceback__))
        return cls(error, type(error), text)

    def __str__(self) -> str:
        return self.traceback


def quietly(name: str, call: Any, *args: Any) -> None:
    """Run a handler whose failure must not change the outcome: print it instead."""
    try:
        call(*args)
    except Exception as error:  # noqa: BLE001 - a handler's fault, said and set aside
        print(
            f"[kubecanvas] the task's {name} handler raised {type(error).__name__}: {error}", file=sys.stderr
        )
