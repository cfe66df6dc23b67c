"""kubecanvas: Celery-style canvases (chain, group, chord, ...) run natively on Kubernetes.

    from kubecanvas import task, group

    @task
    def add(x, y):
        return x + y

    workflow = (group(add.s(i, i) for i in range(10)) | tsum.s()).to_workflow("sums")

This module stays light to import: every task pod imports it with the user's code.
"""

from kubecanvas.errors import (
    ChordError,
    InvalidWorkflow,
    KubecanvasError,
    MaxRetriesExceededError,
    Problem,
    Retry,
    TaskError,
    TaskRevokedError,
    TimeLimitExceeded,
    WorkerLostError,
)
from kubecanvas.sdk import (
    Canvas,
    Request,
    Signature,
    Task,
    WorkflowDefinition,
    chain,
    chord,
    chunks,
    from_canvas,
    from_workflow,
    group,
    load_workflow,
    shared_task,
    signature,
    task,
    to_workflow,
    xmap,
    xstarmap,
)

__version__ = "0.1.0"

__all__ = [
    "Canvas",
    "ChordError",
    "InvalidWorkflow",
    "KubecanvasError",
    "MaxRetriesExceededError",
    "Problem",
    "Request",
    "Retry",
    "Signature",
    "Task",
    "TaskError",
    "TaskRevokedError",
    "TimeLimitExceeded",
    "WorkerLostError",
    "WorkflowDefinition",
    "__version__",
    "chain",
    "chord",
    "chunks",
    "from_canvas",
    "from_workflow",
    "group",
    "load_workflow",
    "shared_task",
    "signature",
    "task",
    "to_workflow",
    "xmap",
    "xstarmap",
]
