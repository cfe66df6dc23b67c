"""The engine: a pure state machine over a task graph, shared by the operator and the local runner.

Names are imported on first use: a task pod needs `states` but never the machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubecanvas._kits.lazy import lazy_exports

if TYPE_CHECKING:
    from kubecanvas.engine.effects import Kill, Launch, Notice, Step
    from kubecanvas.engine.events import (
        Event,
        Expired,
        Failed,
        RetryRequested,
        Revoke,
        Start,
        Started,
        Succeeded,
        Tick,
    )
    from kubecanvas.engine.machine import Engine, WorkflowError
    from kubecanvas.engine.retries import RetryRule, retry_rule
    from kubecanvas.engine.states import TERMINAL, Phase, TaskFailure, TaskRecord, TaskState

_EXPORTS = {
    "Kill": "kubecanvas.engine.effects",
    "Launch": "kubecanvas.engine.effects",
    "Notice": "kubecanvas.engine.effects",
    "Step": "kubecanvas.engine.effects",
    **dict.fromkeys(
        (
            "Event",
            "Expired",
            "Failed",
            "RetryRequested",
            "Revoke",
            "Start",
            "Started",
            "Succeeded",
            "Tick",
        ),
        "kubecanvas.engine.events",
    ),
    "Engine": "kubecanvas.engine.machine",
    "WorkflowError": "kubecanvas.engine.machine",
    "RetryRule": "kubecanvas.engine.retries",
    "retry_rule": "kubecanvas.engine.retries",
    "TERMINAL": "kubecanvas.engine.states",
    "Phase": "kubecanvas.engine.states",
    "TaskFailure": "kubecanvas.engine.states",
    "TaskRecord": "kubecanvas.engine.states",
    "TaskState": "kubecanvas.engine.states",
}
__all__ = [
    "TERMINAL",
    "Engine",
    "Event",
    "Expired",
    "Failed",
    "Kill",
    "Launch",
    "Notice",
    "Phase",
    "RetryRequested",
    "RetryRule",
    "Revoke",
    "Start",
    "Started",
    "Step",
    "Succeeded",
    "TaskFailure",
    "TaskRecord",
    "TaskState",
    "Tick",
    "WorkflowError",
    "retry_rule",
]
__getattr__: Any = lazy_exports(__name__, _EXPORTS, globals())
