"""The conductor's collaborators as unit tests give them: a fake of the Kubernetes API
behind its Protocol, a fake provisioner, an injectable clock, and a harness around a
Conductor on a real redis-server (test_conductor.py, test_runners.py)."""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from kubecanvas.resources import WORKFLOW_UID_LABEL
from kubecanvas.store.hostside import WorkflowStore, connect_async
from kubecanvas.store.layout import Outcome, TaskEvent
from kubecanvas_operator.clients import RedisCredentials
from kubecanvas_operator.conductor import Conductor
from kubecanvas_operator.config import OperatorConfig

NAMESPACE = "team-a"


class FakeKube:
    """The API as the conductor sees it (kubecanvas_operator.clients.ConductorClient)."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.workflows: dict[str, dict[str, Any]] = {}
        self.deleted_jobs: list[str] = []
        self.create_errors: list[Exception] = []  # raised by the next create_job calls
        self.pods: dict[str, list[dict[str, Any]]] = {}
        self.listings = 0  # workflow_jobs calls
        self.pod_listings: list[str] = []  # job_pods calls, by Job

    async def create_job(self, manifest: dict[str, Any]) -> bool:
        if self.create_errors:
            raise self.create_errors.pop(0)
        name = manifest["metadata"]["name"]
        if name in self.jobs:
            return False
        self.jobs[name] = copy.deepcopy(manifest)
        return True

    async def workflow_jobs(self, namespace: str, uid: str) -> dict[str, dict[str, Any]]:
        self.listings += 1
        return {
            name: job
            for name, job in self.jobs.items()
            if job["metadata"].get("labels", {}).get(WORKFLOW_UID_LABEL) == uid
        }

    async def expire_job(self, namespace: str, name: str, seconds: int) -> None:
        self.jobs[name].setdefault("spec", {})["ttlSecondsAfterFinished"] = seconds

    async def delete_job(self, namespace: str, name: str) -> None:
        self.jobs.pop(name, None)
        self.deleted_jobs.append(name)

    async def job_pods(self, namespace: str, job: str) -> list[dict[str, Any]]:
        self.pod_listings.append(job)
        return self.pods.get(job, [])

    async def get_workflow(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.workflows.get(name)

    async def patch_workflow_status(self, namespace: str, name: str, status: dict[str, Any]) -> bool:
        if name not in self.workflows:
            return False
        self.workflows[name].setdefault("status", {}).update(copy.deepcopy(status))
        return True

    async def delete_workflow(self, namespace: str, name: str, uid: str) -> None:
        self.workflows.pop(name, None)

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.workflows[name].get("status") or {})

    def job_names(self) -> list[str]:
        return sorted(self.jobs)


class FakeProvisioner:
    def __init__(self) -> None:
        self.prepared: set[str] = set()
        self.released: list[str] = []
        self.forgotten: list[str] = []
        self.granted: list[str] = []
        self.restored: list[str] = []

    async def prepare(self, namespace: str) -> None:
        self.prepared.add(namespace)

    async def credentials(self, namespace: str, workflow: str, uid: str) -> RedisCredentials | None:
        self.granted.append(uid)
        return RedisCredentials(f"secret-{uid}", f"user-{uid}")

    async def release(self, uid: str) -> None:
        self.released.append(uid)

    async def restore(self, namespace: str, workflow: str, uid: str) -> None:
        self.restored.append(uid)

    def forget(self, namespace: str) -> None:
        self.forgotten.append(namespace)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self, conductor: Conductor, api: FakeKube, store: WorkflowStore, clock: Clock) -> None:
        self.conductor, self.api, self.store, self.clock = conductor, api, store, clock
        self.notices: list[tuple[str, str]] = []

    def body(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        uid = f"{name}-{time.time_ns()}"
        body = {
            "apiVersion": "kubecanvas.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": name, "namespace": NAMESPACE, "uid": uid},
            "spec": spec,
        }
        self.api.workflows[name] = body
        return body

    async def report(self, uid: str, task_id: str, attempt: int, outcome: Outcome, value: Any = None) -> None:
        """What a task pod does: its outcome (and value) into Redis, then the news."""
        await self.store.put_outcome(uid, task_id, attempt, outcome, value=value)
        await self.conductor.on_task_events(
            [
                TaskEvent(uid, task_id, attempt, "started", at=self.clock()),
                TaskEvent(uid, task_id, attempt, outcome.kind, outcome, at=self.clock()),
            ]
        )
        await self.conductor.drain()


@asynccontextmanager
async def harness(redis_url: str, **config: Any) -> AsyncIterator[Harness]:
    api, clock = FakeKube(), Clock()
    store = WorkflowStore(connect_async(redis_url), f"test:events:{time.time_ns()}")
    notices: list[tuple[str, str]] = []
    conductor = Conductor(
        api,
        store,
        OperatorConfig(runtime_image="registry.example/runtime:1", **config),
        notify=lambda reference, kind, reason, message: notices.append((reason, message)),
        provisioner=FakeProvisioner(),
        clock=clock,
        backoff=lambda tries: 0.001,
    )
    test = Harness(conductor, api, store, clock)
    test.notices = notices
    try:
        yield test
    finally:
        await conductor.close()
        await store.client.aclose()
