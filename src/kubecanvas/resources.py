"""Who kubecanvas is on the Kubernetes API: its resources, and the names, labels and
annotations it puts on what it creates. One place, read by the operator, the client, the
CLI and the SDK, so that what one side writes the other finds.

Names are deterministic (`job_name`), so creating twice is harmless and a restarted
operator finds the Jobs it made. The CRDs (`crds/`) and the chart's RBAC spell the same
group and plurals; a test holds them together.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "API_VERSION",
    "ATTEMPT_LABEL",
    "CRON_LABEL",
    "CRON_WORKFLOW",
    "GROUP",
    "MANAGED_BY",
    "RETRY_OF_ANNOTATION",
    "RETRY_OF_UID_ANNOTATION",
    "RUNNER_POOL_LABEL",
    "SCHEDULED_AT_ANNOTATION",
    "TASK_ANNOTATION",
    "TASK_ID_LABEL",
    "TASK_NAME_LABEL",
    "VERSION",
    "WORKFLOW",
    "WORKFLOW_CANVAS",
    "WORKFLOW_LABEL",
    "WORKFLOW_RESULT",
    "WORKFLOW_UID_LABEL",
    "Resource",
    "job_name",
    "label_value",
    "runner_job_name",
]

GROUP = "kubecanvas.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


@dataclass(frozen=True, slots=True)
class Resource:
    """One custom resource of kubecanvas, as the API server names it."""

    kind: str
    plural: str
    group: str = GROUP
    version: str = VERSION

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def selector(self) -> tuple[str, str, str]:
        """(group, version, plural): what kopf's handlers and the custom-objects API take."""
        return (self.group, self.version, self.plural)

    def path(self, namespace: str, name: str) -> str:
        """The API server's path of one of these (what `kubectl get --raw` takes)."""
        return f"/apis/{self.group}/{self.version}/namespaces/{namespace}/{self.plural}/{name}"

    def reference(self, name: str, namespace: str, uid: str | None = None) -> dict[str, Any]:
        """An object reference to one of these (what a Kubernetes Event points at)."""
        metadata: dict[str, Any] = {"name": name, "namespace": namespace}
        if uid is not None:
            metadata["uid"] = uid
        return {"apiVersion": self.api_version, "kind": self.kind, "metadata": metadata}

    def owner_reference(self, name: str, uid: str) -> dict[str, Any]:
        """What an object this one controls points at, so it is deleted with it."""
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": name,
            "uid": uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


WORKFLOW = Resource("Workflow", "workflows")
CRON_WORKFLOW = Resource("CronWorkflow", "cronworkflows")
WORKFLOW_RESULT = Resource("WorkflowResult", "workflowresults", group=f"results.{GROUP}")
"""A Workflow's state as the operator's results API serves it (an aggregated API, not a CRD)."""
WORKFLOW_CANVAS = Resource("WorkflowCanvas", "workflowcanvases", group=f"results.{GROUP}")
"""The canvas of a Workflow too large for etcd, uploaded to the results API before the
Workflow that names it (`spec.canvasRef`; see `kubecanvas.canvas.offload`). Create only."""

# On what the operator creates (the app.kubernetes.io/managed-by label's value).
MANAGED_BY = "kubecanvas"

# On each task's Job and pod: which workflow, task and attempt it runs.
WORKFLOW_LABEL = "kubecanvas.io/workflow"
WORKFLOW_UID_LABEL = "kubecanvas.io/workflow-uid"
TASK_ID_LABEL = "kubecanvas.io/task-id"
TASK_NAME_LABEL = "kubecanvas.io/task-name"
ATTEMPT_LABEL = "kubecanvas.io/attempt"
TASK_ANNOTATION = "kubecanvas.io/task"  # the full dotted task name (a label value is too short)

# On each warm runner's Job and pod (operator/runners.py), beside the workflow's labels:
# the pool it serves. A runner has no task or attempt label: it runs many.
RUNNER_POOL_LABEL = "kubecanvas.io/runner-pool"

# On each run of a CronWorkflow: the CronWorkflow's name, and the slot (RFC 3339) it runs.
CRON_LABEL = "kubecanvas.io/cronworkflow"
SCHEDULED_AT_ANNOTATION = "kubecanvas.io/scheduled-at"

# On a Workflow made by `kubecanvas retry`: the Workflow it re-runs (name, and uid when known).
RETRY_OF_ANNOTATION = "kubecanvas.io/retry-of"
RETRY_OF_UID_ANNOTATION = "kubecanvas.io/retry-of-uid"

MAX_NAME = 63  # a Job's name becomes a label value of its pods


def _digest(text: str, length: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def task_secret_name(workflow_uid: str) -> str:
    """The Secret holding the Redis password of a workflow's task pods (store/tenancy.py)."""
    return f"kubecanvas-task-{workflow_uid}"


def job_name(workflow: str, task_id: str, attempt: int) -> str:
    """`<workflow>-<task>-<attempt>`, e.g. `squares-t3-1`, shortened with a hash when
    the workflow's name is long so that it stays a valid, unique 63-character name."""
    return _named(workflow, f"-{task_id.replace('.', '-')}-{attempt}")


def runner_job_name(workflow: str, pool: str, serial: str) -> str:
    """`<workflow>-r<pool>-<serial>`: one warm runner of the workflow's pool (a valid,
    unique 63-character name, as `job_name`)."""
    return _named(workflow, f"-r{pool}-{serial}")


def _named(workflow: str, suffix: str) -> str:
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
