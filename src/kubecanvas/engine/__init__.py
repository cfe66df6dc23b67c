"""The engine: a pure state machine over a task graph, shared by the operator and the local runner."""

from kubecanvas.engine.effects import Kill, Launch, Notice, Step
from kubecanvas.engine.machine import Engine, WorkflowError
from kubecanvas.engine.retries import RetryRule, retry_rule
from kubecanvas.engine.states import TERMINAL, Phase, TaskFailure, TaskRecord, TaskState

__all__ = [
    "TERMINAL",
    "Engine",
    "Kill",
    "Launch",
    "Notice",
    "Phase",
    "RetryRule",
    "Step",
    "TaskFailure",
    "TaskRecord",
    "TaskState",
    "WorkflowError",
    "retry_rule",
]
