"""Run one Workflow on the cluster and record everything about it, to the millisecond.

Watches on the scenario's namespace stamp each Job's and pod's creation and each
version of the Workflow with the local receipt time; after the run, the runtime's own
start and end times of every task attempt come from Redis (`kc:{uid}:outcomes`, as the
runtime wrote them) and the operator's view from `kc:{uid}:records`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import redis

from kcbench.kube import KubeClient, Watch, WatchEvent

__all__ = ["FINISHED", "Recorder", "RunData", "hgetall", "run_workflow"]

FINISHED = ("Succeeded", "Failed", "Revoked")
TASK_ID_LABEL = "kubecanvas.io/task-id"
ATTEMPT_LABEL = "kubecanvas.io/attempt"


def hgetall(client: redis.Redis, key: str) -> dict[str, Any]:
    """A hash of JSON values, decoded."""
    raw = cast(dict[str, str], client.hgetall(key))
    return {name: json.loads(value) for name, value in raw.items()}


def _attempt_key(labels: dict[str, str]) -> str | None:
    task, attempt = labels.get(TASK_ID_LABEL), labels.get(ATTEMPT_LABEL)
    return f"{task}#{attempt}" if task and attempt else None


@dataclass(eq=False)
class Recorder:
    """What the watches saw of one Workflow, its Jobs and its pods."""

    name: str
    jobs: dict[str, float] = field(default_factory=dict)  # "<task>#<attempt>" -> Job ADDED receipt
    job_times: list[float] = field(default_factory=list)
    job_template: dict[str, Any] | None = None
    pods: dict[str, float] = field(default_factory=dict)  # pod name -> ADDED receipt
    pod_attempts: dict[str, str] = field(default_factory=dict)  # pod name -> "<task>#<attempt>"
    max_size: int = 0
    versions: int = 0
    uid: str = ""
    phase: str = ""
    phase_at: dict[str, float] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_job(self, event: WatchEvent) -> None:
        if event.type != "ADDED":
            return
        key = _attempt_key(event.object["metadata"].get("labels") or {})
        with self.lock:
            if key and key not in self.jobs:
                self.jobs[key] = event.received
                self.job_times.append(event.received)
                if self.job_template is None:
                    self.job_template = event.object

    def on_pod(self, event: WatchEvent) -> None:
        if event.type != "ADDED":
            return
        metadata = event.object["metadata"]
        key = _attempt_key(metadata.get("labels") or {})
        with self.lock:
            if key and metadata["name"] not in self.pods:
                self.pods[metadata["name"]] = event.received
                self.pod_attempts[metadata["name"]] = key

    def on_workflow(self, event: WatchEvent) -> None:
        body = event.object
        if body["metadata"]["name"] != self.name or event.type == "DELETED":
            return
        self.versions += 1
        self.max_size = max(self.max_size, event.size)
        self.uid = body["metadata"]["uid"]
        status = body.get("status") or {}
        self.status = status
        phase = str(status.get("phase") or "")
        if phase and phase != self.phase:
            self.phase = phase
            self.phase_at.setdefault(phase, event.received)
            if phase in FINISHED:
                self.done.set()


@dataclass
class RunData:
    """One finished Workflow run."""

    name: str
    namespace: str
    uid: str
    submitted: float
    recorder: Recorder
    outcomes: dict[str, Any]  # "<task>#<attempt>" -> the runtime's outcome (startedAt, finishedAt, ...)
    records: dict[str, Any]  # task id -> the engine's record (operator-side times)
    watch_errors: list[str]

    @property
    def phase(self) -> str:
        return self.recorder.phase

    @property
    def finished(self) -> float:
        return self.recorder.phase_at.get(self.phase, time.time())

    @property
    def total_seconds(self) -> float:
        return self.finished - self.submitted

    def runtime_times(self, task_id: str, attempt: int = 1) -> tuple[float | None, float | None]:
        outcome = self.outcomes.get(f"{task_id}#{attempt}") or {}
        return outcome.get("startedAt"), outcome.get("finishedAt")


def run_workflow(
    api: KubeClient,
    store: redis.Redis,
    namespace: str,
    name: str,
    spec: dict[str, Any],
    *,
    timeout: float,
    label: str,
    progress_every: float = 15.0,
    on_tick: Callable[[Recorder], None] | None = None,
) -> RunData:
    """Create the Workflow (a plain POST: no last-applied annotation), wait until it finished."""
    recorder = Recorder(name)
    watches: list[Watch] = [
        api.watch(f"/apis/batch/v1/namespaces/{namespace}/jobs", recorder.on_job, name=f"{label}-jobs"),
        api.watch(f"/api/v1/namespaces/{namespace}/pods", recorder.on_pod, name=f"{label}-pods"),
        api.watch(
            f"/apis/kubecanvas.io/v1alpha1/namespaces/{namespace}/workflows?fieldSelector=metadata.name%3D{name}",
            recorder.on_workflow,
            name=f"{label}-workflow",
        ),
    ]
    manifest = {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    submitted = time.time()
    created = api.request("POST", f"/apis/kubecanvas.io/v1alpha1/namespaces/{namespace}/workflows", manifest)
    recorder.uid = created["metadata"]["uid"]
    deadline = time.monotonic() + timeout
    next_line = time.monotonic() + progress_every
    try:
        while not recorder.done.wait(1.0):
            if on_tick is not None:
                on_tick(recorder)
            if time.monotonic() > next_line:
                next_line += progress_every
                status = recorder.status
                print(
                    f"    {label}: {time.time() - submitted:6.0f}s  phase {recorder.phase or 'Pending'}, "
                    f"{status.get('progress', '0/?')} done, {len(recorder.jobs)} Jobs created",
                    flush=True,
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{label}: workflow {namespace}/{name} did not finish in {timeout:.0f}s "
                    f"(phase {recorder.phase or 'Pending'}, progress {recorder.status.get('progress')})"
                )
        time.sleep(0.5)  # the last pods' and Jobs' events
    finally:
        for watch in watches:
            watch.stop()
    uid = recorder.uid
    outcomes = hgetall(store, f"kc:{{{uid}}}:outcomes")
    records = hgetall(store, f"kc:{{{uid}}}:records")
    return RunData(
        name=name,
        namespace=namespace,
        uid=uid,
        submitted=submitted,
        recorder=recorder,
        outcomes=outcomes,
        records=records,
        watch_errors=[error for watch in watches for error in watch.errors],
    )
