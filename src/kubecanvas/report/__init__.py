"""What a workflow looks like from outside: the JSON document, the status summary, and a
recorded failure as a Python exception again.

Names are imported on first use: a task pod rebuilds exceptions for errbacks but never
builds a document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubecanvas._kits.lazy import lazy_exports

if TYPE_CHECKING:
    from kubecanvas.report.document import TaskEntry, WorkflowDocument, workflow_document, workflow_result
    from kubecanvas.report.exceptions import rebuild_exception
    from kubecanvas.report.status import MAX_INLINE_RESULT_BYTES, phase_message, workflow_status

_EXPORTS = {
    "TaskEntry": "kubecanvas.report.document",
    "WorkflowDocument": "kubecanvas.report.document",
    "workflow_document": "kubecanvas.report.document",
    "workflow_result": "kubecanvas.report.document",
    "rebuild_exception": "kubecanvas.report.exceptions",
    "MAX_INLINE_RESULT_BYTES": "kubecanvas.report.status",
    "phase_message": "kubecanvas.report.status",
    "workflow_status": "kubecanvas.report.status",
}
__all__ = [
    "MAX_INLINE_RESULT_BYTES",
    "TaskEntry",
    "WorkflowDocument",
    "phase_message",
    "rebuild_exception",
    "workflow_document",
    "workflow_result",
    "workflow_status",
]
__getattr__: Any = lazy_exports(__name__, _EXPORTS, globals())
