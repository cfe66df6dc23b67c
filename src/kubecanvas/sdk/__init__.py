"""The Celery-compatible SDK: tasks, signatures and canvases that become Workflows.

Light on purpose: task pods import it with user code, so nothing here imports
pydantic, YAML or a Kubernetes client until a Workflow is built or submitted.
"""

from kubecanvas.sdk.canvas import Canvas
from kubecanvas.sdk.composition import chain, chord, chunks, group, xmap, xstarmap
from kubecanvas.sdk.request import Request, current_request, executing
from kubecanvas.sdk.signatures import Signature, signature
from kubecanvas.sdk.tasks import Task, shared_task, task
from kubecanvas.sdk.workflows import (
    WorkflowDefinition,
    from_canvas,
    from_workflow,
    load_workflow,
    to_workflow,
)

__all__ = [
    "Canvas",
    "Request",
    "Signature",
    "Task",
    "WorkflowDefinition",
    "chain",
    "chord",
    "chunks",
    "current_request",
    "executing",
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
