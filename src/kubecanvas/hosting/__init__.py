"""The one loop that drives an engine: feed an event, persist the step, then act on it.

Every program that runs a workflow is this host plus a *launcher* (what starts and stops
a task attempt) and a *store* (where each step is persisted before anything is done about
it) — the split dramatiq draws between its `Worker` and its `Broker`:

    ============================  ===============================  ======================
    program                       launcher                         store
    ============================  ===============================  ======================
    the operator                  Kubernetes Jobs (`launching`)    Redis (`WorkflowStore`)
    `kubecanvas run`              child processes                  memory, or Redis
    eager `.apply()`              calls in this process            memory
    the test simulator            scripted attempts, virtual time  none
    ============================  ===============================  ======================
"""

from __future__ import annotations

from kubecanvas.hosting.alarms import LoopAlarm
from kubecanvas.hosting.host import EventMaker, WorkflowHost
from kubecanvas.hosting.ports import Alarm, Launcher, StepHook, StepStore

__all__ = [
    "Alarm",
    "EventMaker",
    "Launcher",
    "LoopAlarm",
    "StepHook",
    "StepStore",
    "WorkflowHost",
]
