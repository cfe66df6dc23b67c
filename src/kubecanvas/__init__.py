"""kubecanvas: Celery-style canvases (chain, group, chord, ...) run natively on Kubernetes.

    from kubecanvas import task, group

    @task
    def add(x, y):
        return x + y

    workflow = (group(add.s(i, i) for i in range(10)) | tsum.s()).to_workflow("sums")

This module stays light to import: every task pod imports it with the user's code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubecanvas._kits.lazy import lazy_exports
from kubecanvas.errors import (
    ChordError,
    ClusterError,
    CodeSourceError,
    ConfigurationError,
    InvalidWorkflow,
    JobCreationError,
    KubeApiError,
    KubecanvasError,
    MaxRetriesExceededError,
    NotJSONError,
    Problem,
    ResultError,
    ResultExpiredError,
    ResultTimeoutError,
    Retry,
    SoftTimeLimitExceeded,
    StateLostError,
    StoreConnectionError,
    StoreError,
    StoreReplyError,
    TaskArgumentsError,
    TaskError,
    TaskImportError,
    TaskRevokedError,
    TimeLimitExceeded,
    WorkerLostError,
    WorkflowNotFound,
)

if TYPE_CHECKING:
    from kubecanvas.execution.request import Request
    from kubecanvas.sdk.app import Celery, Kubecanvas, current_app
    from kubecanvas.sdk.canvas import Canvas, maybe_signature
    from kubecanvas.sdk.composition import chain, chord, chunks, group, xmap, xstarmap
    from kubecanvas.sdk.signatures import Signature, signature
    from kubecanvas.sdk.tasks import Task, shared_task, task
    from kubecanvas.sdk.workflows import (
        WorkflowDefinition,
        from_canvas,
        from_workflow,
        load_workflow,
        to_workflow,
    )

# SDK names are imported on first use (through kubecanvas.sdk, itself lazy):
# `import kubecanvas` stays nearly free.
_SDK = dict.fromkeys(
    (
        "Canvas",
        "Celery",
        "Kubecanvas",
        "current_app",
        "Request",
        "Signature",
        "signature",
        "Task",
        "task",
        "shared_task",
        "chain",
        "chord",
        "chunks",
        "group",
        "xmap",
        "xstarmap",
        "WorkflowDefinition",
        "WorkflowNotFound",
        "from_canvas",
        "from_workflow",
        "load_workflow",
        "maybe_signature",
        "to_workflow",
    ),
    "kubecanvas.sdk",
)

__version__ = "0.1.0"

__all__ = [
    "Canvas",
    "Celery",
    "ChordError",
    "ClusterError",
    "CodeSourceError",
    "ConfigurationError",
    "InvalidWorkflow",
    "JobCreationError",
    "KubeApiError",
    "Kubecanvas",
    "KubecanvasError",
    "MaxRetriesExceededError",
    "NotJSONError",
    "Problem",
    "Request",
    "ResultError",
    "ResultExpiredError",
    "ResultTimeoutError",
    "Retry",
    "Signature",
    "SoftTimeLimitExceeded",
    "StateLostError",
    "StoreConnectionError",
    "StoreError",
    "StoreReplyError",
    "Task",
    "TaskArgumentsError",
    "TaskError",
    "TaskImportError",
    "TaskRevokedError",
    "TimeLimitExceeded",
    "WorkerLostError",
    "WorkflowDefinition",
    "WorkflowNotFound",
    "__version__",
    "chain",
    "chord",
    "chunks",
    "current_app",
    "from_canvas",
    "from_workflow",
    "group",
    "load_workflow",
    "maybe_signature",
    "shared_task",
    "signature",
    "task",
    "to_workflow",
    "xmap",
    "xstarmap",
]

__getattr__: Any = lazy_exports(__name__, _SDK, globals())
