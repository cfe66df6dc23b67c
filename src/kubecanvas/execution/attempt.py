"""Run one task attempt: resolve the function, build its call, run it, say what happened.

Shared by the pod entrypoint and the local runner's subprocesses, so a task behaves
the same on a laptop and on a cluster. Nothing here touches Redis or Kubernetes.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from types import FrameType
from typing import Any

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas._kits.wirevalues import from_wire, to_wire
from kubecanvas.engine.retries import retry_rule
from kubecanvas.engine.states import TaskFailure
from kubecanvas.errors import NotJSONError, Retry, SoftTimeLimitExceeded, TaskImportError, TimeLimitExceeded
from kubecanvas.execution.errback_calls import errback_call, recorded_errback_args
from kubecanvas.execution.hooks import ExceptionInfo, TaskHooks, quietly
from kubecanvas.execution.request import Request, executing
from kubecanvas.execution.task_import import resolve_task
from kubecanvas.graph.arguments import build_call
from kubecanvas.graph.identity import own_task_id
from kubecanvas.graph.nodes import TaskNode
from kubecanvas.store.layout import Outcome
from kubecanvas.store.taskside import TaskInputs

__all__ = ["Execution", "describe_exception", "run_attempt"]


@dataclass(frozen=True, slots=True)
class Execution:
    """One attempt's outcome, its value (on success) and the call it made."""

    outcome: Outcome
    value: JSON
    args: list[JSON]
    kwargs: JSONObject

    @property
    def succeeded(self) -> bool:
        return self.outcome.kind == "succeeded"


def describe_exception(error: BaseException, *, task: str | None = None) -> TaskFailure:
    """An exception as the task reports it; an import error in the task's own code names the task."""
    failure = TaskFailure.from_exception(error)
    if isinstance(error, ImportError) and not isinstance(error, TaskImportError) and task:
        return replace(failure, message=f"task {task!r} failed to import: {failure.message}")
    return failure


def run_attempt(
    inputs: TaskInputs,
    attempt: int,
    workflow: str = "",
    on_start: Callable[[list[JSON], JSONObject], None] | None = None,
    *,
    workflow_uid: str = "",
    imports: Iterable[str] = (),
) -> Execution:
    """Run the attempt and classify the result; never raises for the task's faults.

    `workflow` (`namespace/name`) and `workflow_uid` make the task's request: its id is
    `own_task_id(workflow_uid, node)`, unique to this task of this run. `imports` are
    the workflow's `spec.imports`, imported before the task is found by its name.
    `on_start` hears the actual call just before the task runs (the pod records it
    and announces the start)."""
    node = inputs.node
    started = time.time()
    args: list[JSON] = list(node.args)
    kwargs: JSONObject = dict(node.kwargs)
    task_rule: JSONObject | None = None

    def finish(kind: str, error: TaskFailure | None = None, value: JSON = None, **extra: Any) -> Execution:
        outcome = Outcome(
            kind=kind,  # type: ignore[arg-type]
            error=error,
            task_rule=task_rule,
            started_at=started,
            finished_at=time.time(),
            **extra,
        )
        return Execution(outcome, value, args, kwargs)

    try:
        function = resolve_task(node.task, imports)
    except Exception as error:  # noqa: BLE001 - any import failure is the task's, and is reported
        return finish("failed", describe_exception(error, task=node.task))
    task_rule = _task_rule(function)
    if node.input is not None and node.input.kind == "errback" and not node.immutable:
        assert inputs.failed is not None, "an errback needs the failure that triggered it"
        call_args, kwargs = errback_call(function, node, inputs.failed, workflow_uid)
        args = recorded_errback_args(call_args)
    else:
        call = build_call(node, inputs.results, inputs.spec_args, inputs.spec_kwargs)
        call_args, args, kwargs = list(call.args), call.args, call.kwargs
    task_id = own_task_id(workflow_uid, node)
    request = Request(
        id=task_id,
        task=node.task,
        args=tuple(args),
        kwargs=dict(kwargs),
        attempt=attempt,
        workflow=workflow,
        namespace=workflow.split("/", 1)[0] if "/" in workflow else "",
        called_directly=False,
        headers=from_wire(node.options.get("headers") or {}),
    )
    if on_start is not None:
        on_start(args, kwargs)
    task_object: object = function  # a plain function, or a Task with handlers
    hooks = task_object if isinstance(task_object, TaskHooks) else None
    the_args: tuple[Any, ...] = tuple(from_wire(call_args))
    call_kwargs: dict[str, Any] = from_wire(kwargs)

    def ended(
        status: str, handler: Callable[..., None] | None, outcome: Any, error: BaseException | None
    ) -> None:
        """The handlers once the outcome is known (`handler`: on_retry or on_failure), then
        after_return; what they raise is printed, never the attempt's fault."""
        if hooks is None:
            return
        einfo = ExceptionInfo.of(error) if error is not None else None
        if handler is not None and error is not None:
            quietly(handler.__name__, handler, error, task_id, the_args, call_kwargs, einfo)
        quietly("after_return", hooks.after_return, status, outcome, task_id, the_args, call_kwargs, einfo)

    with executing(request):  # the handlers see `self.request` too, as in a worker
        try:
            soft = _timeout(node, function, "softTimeout", "soft_time_limit")
            with _time_limit(_timeout(node, function), soft):
                if hooks is not None:
                    hooks.before_start(task_id, the_args, call_kwargs)
                value = _call(function, node, list(the_args), call_kwargs)
            try:
                wire = to_wire(value)
            except NotJSONError as error:
                raise TypeError(f"task {node.task!r} returned a value that is not JSON: {error}") from None
            if hooks is not None:
                hooks.on_success(value, task_id, the_args, call_kwargs)
        except Retry as retry:
            cause = (
                describe_exception(retry.exc)
                if retry.exc is not None
                else TaskFailure(Retry.__name__, str(retry))
            )
            raised = retry.exc if retry.exc is not None else retry
            ended("RETRY", hooks.on_retry if hooks is not None else None, raised, raised)
            return finish("retry", cause, countdown=retry.countdown, max_retries=retry.max_retries)
        except Exception as error:  # noqa: BLE001 - the task's failure, reported not raised
            failure = describe_exception(error, task=node.task)
            if hooks is not None:
                # Celery's autoretry is a retry, so it calls on_retry: the engine's own rule says
                # whether this failure will be retried.
                retried = retry_rule(node.options.get("retries"), task_rule).retries(failure, attempt)
                status, handler = ("RETRY", hooks.on_retry) if retried else ("FAILURE", hooks.on_failure)
                ended(status, handler, error, error)
            return finish("failed", failure)
        ended("SUCCESS", None, value, None)
    return finish("succeeded", value=wire)


def _call(function: Callable[..., Any], node: TaskNode, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if node.call == "map":
        return [function(from_wire(item)) for item in node.items or ()]
    if node.call == "starmap":
        return [function(*from_wire(item)) for item in node.items or ()]
    return function(*args, **kwargs)


def _task_rule(function: Any) -> JSONObject | None:
    """The @task decorator's retry rule, for the engine to combine with the Workflow's."""
    rule = getattr(function, "retry_rule", None)
    return rule() if callable(rule) else None


def _timeout(
    node: TaskNode, function: Any, option: str = "timeout", setting: str = "time_limit"
) -> float | None:
    """The Workflow's `timeout` wins over the decorator's `time_limit` (`softTimeout` over
    `soft_time_limit` likewise)."""
    value = node.options.get(option)
    if isinstance(value, int | float):
        return float(value)
    limit = getattr(function, setting, None)
    return float(limit) if isinstance(limit, int | float) else None


@contextmanager
def _time_limit(seconds: float | None, soft: float | None = None) -> Iterator[None]:
    """Raise SoftTimeLimitExceeded inside the task after `soft` seconds, then
    TimeLimitExceeded after `seconds` (the Job's activeDeadlineSeconds, a little later, is the
    hard stop). A soft limit not before the hard one is never reached. SIGALRM exists only in
    the main thread: an eager `.apply()` from another thread runs without limits."""
    if soft is not None and seconds is not None and soft >= seconds:
        soft = None
    if not (seconds or soft) or threading.current_thread() is not threading.main_thread():
        yield
        return
    started = time.monotonic()

    def expire(signum: int, frame: FrameType | None) -> None:
        nonlocal soft
        if soft is not None:
            warned, soft = soft, None
            if seconds:  # on to the hard limit
                signal.setitimer(signal.ITIMER_REAL, max(seconds - (time.monotonic() - started), 0.001))
            raise SoftTimeLimitExceeded(f"SoftTimeLimitExceeded({warned:g})")
        raise TimeLimitExceeded(f"TimeLimitExceeded({seconds:g})")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, soft or seconds or 0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
