"""What the operator's own logic needs from the Kubernetes API, as Protocols split by what
they act on (kopf's `_cogs/clients/` is split the same way). `kube.KubeApi` is the one
adapter that implements them all; unit tests give the conductor a fake of these instead.

Every method raises `kubecanvas.errors.KubeApiError` (with the HTTP status, 0 when the API
server was not reached) and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["ConductorClient", "JobClient", "Provisioner", "RedisCredentials", "WorkflowClient"]


class JobClient(Protocol):
    """The Jobs (and their pods) that run task attempts."""

    async def create_job(self, manifest: dict[str, Any]) -> bool:
        """Create it; False when a Job of that name exists already (a retried create)."""
        ...

    async def workflow_jobs(self, namespace: str, uid: str) -> dict[str, dict[str, Any]]:
        """Every Job of the workflow with `uid`, by name, in one listing."""
        ...

    async def expire_job(self, namespace: str, name: str, seconds: int) -> None:
        """Have the TTL controller remove a finished Job after `seconds`."""
        ...

    async def delete_job(self, namespace: str, name: str) -> None:
        """Delete it and its pods (a missing Job is not an error)."""
        ...

    async def job_pods(self, namespace: str, job: str) -> list[dict[str, Any]]: ...


class WorkflowClient(Protocol):
    """The Workflow objects themselves."""

    async def get_workflow(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def patch_workflow_status(self, namespace: str, name: str, status: dict[str, Any]) -> bool:
        """Merge `status` into the status subresource; False when the Workflow is gone."""
        ...

    async def delete_workflow(self, namespace: str, name: str, uid: str) -> None:
        """Delete it, only if it is still the one with `uid`."""
        ...


class ConductorClient(JobClient, WorkflowClient, Protocol):
    """Everything the conductor asks of the API."""


@dataclass(frozen=True, slots=True)
class RedisCredentials:
    """How a task pod authenticates to Redis: the Secret in its namespace holding the
    password (key `password`), and the Redis user, if it is not the default one."""

    secret: str
    username: str | None = None


class Provisioner(Protocol):
    """Makes a namespace ready to run task pods (service account), and a workflow's pods
    able to reach Redis (its own Redis user and the Secret with its password)."""

    async def prepare(self, namespace: str) -> None:
        """Make `namespace` able to run task pods; remembered, so the hot path pays once."""
        ...

    def forget(self, namespace: str) -> None:
        """Check `namespace` again before its next Job: it may have been deleted and created
        again since, and lost what was made there (its task ServiceAccount)."""
        ...

    async def credentials(self, namespace: str, workflow: str, uid: str) -> RedisCredentials | None:
        """What the workflow's task pods authenticate with; None: Redis has no password.
        Called before every Job: it re-creates what a Redis restart lost."""
        ...

    async def release(self, uid: str) -> None:
        """The workflow ended: its task pods need Redis no more."""
        ...

    async def restore(self, namespace: str, workflow: str, uid: str) -> None:
        """Make the workflow's task Secret (and Redis user) again: someone deleted it."""
        ...
