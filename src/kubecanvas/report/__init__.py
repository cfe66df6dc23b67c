"""What a workflow looks like from outside: the JSON document and the status summary."""

from kubecanvas.report.document import TaskEntry, WorkflowDocument, workflow_document, workflow_result
from kubecanvas.report.status import MAX_INLINE_RESULT_BYTES, phase_message, workflow_status

__all__ = [
    "MAX_INLINE_RESULT_BYTES",
    "TaskEntry",
    "WorkflowDocument",
    "phase_message",
    "workflow_document",
    "workflow_result",
    "workflow_status",
]
