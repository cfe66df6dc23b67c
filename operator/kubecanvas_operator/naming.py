"""Names and labels of the objects the operator creates: deterministic, so that
creating twice is harmless and a restarted operator finds what it made."""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "ATTEMPT_LABEL",
    "GROUP",
    "MANAGED_BY",
    "PLURAL",
    "TASK_ID_LABEL",
    "TASK_NAME_LABEL",
    "VERSION",
    "WORKFLOW_LABEL",
    "WORKFLOW_UID_LABEL",
    "job_name",
    "label_value",
]

GROUP = "kubecanvas.io"
VERSION = "v1alpha1"
PLURAL = "workflows"
MANAGED_BY = "kubecanvas"
WORKFLOW_LABEL = "kubecanvas.io/workflow"
WORKFLOW_UID_LABEL = "kubecanvas.io/workflow-uid"
TASK_ID_LABEL = "kubecanvas.io/task-id"
TASK_NAME_LABEL = "kubecanvas.io/task-name"
ATTEMPT_LABEL = "kubecanvas.io/attempt"
TASK_ANNOTATION = "kubecanvas.io/task"

MAX_NAME = 63  # a Job's name becomes a label value of its pods


def _digest(text: str, length: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def job_name(workflow: str, task_id: str, attempt: int) -> str:
    """`<workflow>-<task>-<attempt>`, e.g. `squares-t3-1`, shortened with a hash when
    the workflow's name is long so that it stays a valid, unique 63-character name."""
    suffix = f"-{task_id.replace('.', '-')}-{attempt}"
    if len(workflow) + len(suffix) <= MAX_NAME:
        return workflow + suffix
    keep = MAX_NAME - len(suffix) - 7
    return f"{workflow[:keep].rstrip('-.')}-{_digest(workflow)}{suffix}"


_LABEL_INVALID = re.compile(r"[^A-Za-z0-9._-]")


def label_value(text: str) -> str:
    """A valid label value (63 characters, alphanumeric at both ends) that still
    reads like `text`; a hash keeps long values distinct."""
    cleaned = _LABEL_INVALID.sub("-", text)
    if len(cleaned) > MAX_NAME:
        cleaned = f"{cleaned[: MAX_NAME - 7]}-{_digest(text)}"
    return cleaned.strip("-._") or _digest(text)
