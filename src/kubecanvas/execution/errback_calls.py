"""How an errback is called (contract 4.5).

A function that still needs three positional arguments after its own partial ones
is new-style: it gets `(request, exc, traceback)` of the failed task. Anything else
gets the failed task's id. Parameters with defaults do not count (beyond Celery,
whose arity check counts them and then loses such errbacks).
"""

from __future__ import annotations

import inspect
from typing import Any

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas.execution.request import Request
from kubecanvas.graph.identity import own_task_id
from kubecanvas.graph.nodes import TaskNode
from kubecanvas.report.exceptions import rebuild_exception
from kubecanvas.store.taskside import FailedTask

__all__ = ["errback_call", "required_positional"]


def errback_call(
    function: Any, node: TaskNode, failed: FailedTask, workflow_uid: str
) -> tuple[list[Any], JSONObject]:
    """The positional and keyword arguments an errback is called with; the failed task's
    id is its own (`own_task_id`), as its `self.request.id` was."""
    failed_id = own_task_id(workflow_uid, failed.node)
    own_args, kwargs = list(node.args), dict(node.kwargs)
    if required_positional(function) - len(own_args) >= 3:
        request = Request(
            id=failed_id,
            task=failed.node.task,
            args=tuple(failed.args),
            kwargs=dict(failed.kwargs),
            called_directly=False,
        )
        return [request, rebuild_exception(failed.error), failed.error.traceback or "", *own_args], kwargs
    return [failed_id, *own_args], kwargs


def recorded_errback_args(call_args: list[Any]) -> list[JSON]:
    """A JSON picture of an errback's arguments, for `kubecanvas get`."""
    shown: list[JSON] = []
    for value in call_args:
        if isinstance(value, Request):
            shown.append({"request": {"id": value.id, "task": value.task}})
        elif isinstance(value, BaseException):
            shown.append(f"{type(value).__name__}({str(value)!r})")
        elif isinstance(value, str) and value.startswith("Traceback"):
            shown.append("<traceback>")
        else:
            shown.append(value)
    return shown


def required_positional(function: Any) -> int:
    """Positional parameters without defaults, `self` of a bound task excluded."""
    target = inspect.unwrap(function)
    try:
        parameters = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        return 1
    if getattr(function, "bind", False) and parameters:
        parameters = parameters[1:]
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(
        parameter.kind in positional and parameter.default is inspect.Parameter.empty
        for parameter in parameters
    )
