"""The Celery-compatible SDK: tasks, signatures and canvases that become Workflows.

Light on purpose: task pods import it with user code, so names are imported on first
use, and nothing imports pydantic, YAML or a Kubernetes client until a Workflow is
built or submitted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubecanvas._kits.lazy import lazy_exports

if TYPE_CHECKING:
    from kubecanvas.execution.request import Request, current_request, executing
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

_EXPORTS = {
    "Canvas": "kubecanvas.sdk.canvas",
    "Celery": "kubecanvas.sdk.app",
    "Kubecanvas": "kubecanvas.sdk.app",
    "current_app": "kubecanvas.sdk.app",
    "maybe_signature": "kubecanvas.sdk.canvas",
    "Request": "kubecanvas.execution.request",
    "current_request": "kubecanvas.execution.request",
    "executing": "kubecanvas.execution.request",
    "Signature": "kubecanvas.sdk.signatures",
    "signature": "kubecanvas.sdk.signatures",
    "Task": "kubecanvas.sdk.tasks",
    "task": "kubecanvas.sdk.tasks",
    "shared_task": "kubecanvas.sdk.tasks",
    "chain": "kubecanvas.sdk.composition",
    "chord": "kubecanvas.sdk.composition",
    "chunks": "kubecanvas.sdk.composition",
    "group": "kubecanvas.sdk.composition",
    "xmap": "kubecanvas.sdk.composition",
    "xstarmap": "kubecanvas.sdk.composition",
    "WorkflowDefinition": "kubecanvas.sdk.workflows",
    "from_canvas": "kubecanvas.sdk.workflows",
    "from_workflow": "kubecanvas.sdk.workflows",
    "load_workflow": "kubecanvas.sdk.workflows",
    "to_workflow": "kubecanvas.sdk.workflows",
}
__all__ = [
    "Canvas",
    "Celery",
    "Kubecanvas",
    "Request",
    "Signature",
    "Task",
    "WorkflowDefinition",
    "chain",
    "chord",
    "chunks",
    "current_app",
    "current_request",
    "executing",
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
__getattr__: Any = lazy_exports(__name__, _EXPORTS, globals())
