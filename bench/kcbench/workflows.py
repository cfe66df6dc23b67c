"""Run one Workflow on the cluster and record everything about it, to the millisecond.

Watches on the scenario's namespace stamp each Job's creation, each pod's creation,
binding, sandbox-ready and container-started updates, and each version of the Workflow
with the local receipt time. As each pod finishes, the node's own records of it are read
(kcbench.node: the kubelet's and containerd's, microseconds or better). After the run, the
runtime's own start and end times of every task attempt come from Redis
(the `outcomes` hash, as the runtime wrote them), its `started` reports from the events
stream, and the operator's view from the `records` hash (kubecanvas.store.layout).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import redis

from kcbench.kube import KubeClient, Watch, WatchEvent
from kcbench.node import NodeReader, NodeTimes
from kubecanvas.canvas.offload import UPLOAD_TTL_SECONDS, CanvasRef, split
from kubecanvas.resources import RUNNER_POOL_LABEL
from kubecanvas.store.layout import WorkflowKeys

__all__ = ["FINISHED", "PodTimes", "Recorder", "RunData", "hgetall", "run_workflow"]

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


def api_time(text: Any) -> float | None:
    """An API timestamp (`2026-12-03T21:28:47Z`: whole seconds) as epoch seconds."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return cast(dict[str, Any], condition)
    return None


@dataclass
class PodTimes:
    """One task pod as the watch saw it (receipt times, ms) and as the API and the node
    recorded it."""

    name: str
    uid: str
    attempt: str  # "<task>#<attempt>"
    added: float  # pod ADDED (the Job controller created it)
    bound: float | None = None  # first version with spec.nodeName (the scheduler's binding)
    sandbox_seen: float | None = None  # first version with PodReadyToStartContainers True
    started_seen: float | None = None  # first version whose container has started
    finished_seen: float | None = None  # first version in phase Succeeded or Failed
    container_id: str = ""
    # The API's own timestamps (whole seconds): PodScheduled, PodReadyToStartContainers, the
    # container's startedAt and finishedAt.
    api: dict[str, float] = field(default_factory=dict)
    node: NodeTimes | None = None

    def observe(self, obj: dict[str, Any], received: float) -> bool:
        """Take one version of the pod; True the first time it is seen finished."""
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        if self.bound is None and spec.get("nodeName"):
            self.bound = received
        scheduled = _condition(status, "PodScheduled")
        if scheduled is not None:
            self._api("scheduled", scheduled.get("lastTransitionTime"))
        ready = _condition(status, "PodReadyToStartContainers")
        if ready is not None:
            if self.sandbox_seen is None:
                self.sandbox_seen = received
            self._api("sandbox_ready", ready.get("lastTransitionTime"))
        for container in status.get("containerStatuses") or []:
            self.container_id = container.get("containerID") or self.container_id
            state = container.get("state") or {}
            current = state.get("running") or state.get("terminated") or {}
            if current.get("startedAt"):
                if self.started_seen is None:
                    self.started_seen = received
                self._api("started", current["startedAt"])
            if (state.get("terminated") or {}).get("finishedAt"):
                self._api("finished", state["terminated"]["finishedAt"])
        if self.finished_seen is None and status.get("phase") in ("Succeeded", "Failed"):
            self.finished_seen = received
            return True
        return False

    def _api(self, key: str, text: Any) -> None:
        value = api_time(text)
        if value is not None and key not in self.api:
            self.api[key] = value


@dataclass(eq=False)
class Recorder:
    """What the watches saw of one Workflow, its Jobs and its pods."""

    name: str
    jobs: dict[str, float] = field(default_factory=dict)  # "<task>#<attempt>" -> Job ADDED receipt
    job_times: list[float] = field(default_factory=list)
    job_template: dict[str, Any] | None = None
    pods: dict[str, PodTimes] = field(default_factory=dict)  # pod name -> what was seen of it
    # Warm runners (`kubecanvas.io/runner-pool`): Job name -> its ADDED receipt, pod name -> what
    # was seen of it. A runner runs many attempts and has no task or attempt label, so it is in
    # neither map above.
    runner_jobs: dict[str, float] = field(default_factory=dict)
    runner_pods: dict[str, PodTimes] = field(default_factory=dict)
    namespace: str = ""
    node: NodeReader | None = None  # reads each finished pod's node records
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
        metadata = event.object["metadata"]
        labels = metadata.get("labels") or {}
        if RUNNER_POOL_LABEL in labels:
            with self.lock:
                self.runner_jobs.setdefault(metadata["name"], event.received)
            return
        key = _attempt_key(labels)
        with self.lock:
            if key and key not in self.jobs:
                self.jobs[key] = event.received
                self.job_times.append(event.received)
                if self.job_template is None:
                    self.job_template = event.object

    def on_pod(self, event: WatchEvent) -> None:
        if event.type == "DELETED":
            return
        metadata = event.object["metadata"]
        labels = metadata.get("labels") or {}
        if RUNNER_POOL_LABEL in labels:
            with self.lock:
                runner = self.runner_pods.get(metadata["name"])
                if runner is None:
                    runner = PodTimes(metadata["name"], metadata.get("uid", ""), "", event.received)
                    self.runner_pods[runner.name] = runner
                runner.observe(event.object, event.received)
            return
        key = _attempt_key(labels)
        if not key:
            return
        with self.lock:
            pod = self.pods.get(metadata["name"])
            if pod is None:
                pod = PodTimes(metadata["name"], metadata.get("uid", ""), key, event.received)
                self.pods[pod.name] = pod
            finished = pod.observe(event.object, event.received)
        if finished and self.node is not None:
            self.node.submit(self.namespace, pod.name, pod.uid, pod.container_id, _storer(pod))

    def pod_of(self, attempt: str) -> PodTimes | None:
        """The pod of attempt "<task>#<attempt>" (the first, if the Job made several)."""
        found = [pod for pod in self.pods.values() if pod.attempt == attempt]
        return min(found, key=lambda pod: pod.added) if found else None

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


def _storer(pod: PodTimes) -> Callable[[NodeTimes], None]:
    def store(times: NodeTimes) -> None:
        pod.node = times

    return store


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
    # "<task>#<attempt>" -> the runtime's `started` report: its own `at`, and when Redis took
    # it (the stream entry's ID, ms)
    started_reports: dict[str, dict[str, float]] = field(default_factory=dict)
    stored_canvas_bytes: int = 0  # a spec too large for etcd: its canvas, kept in Redis

    @property
    def phase(self) -> str:
        return self.recorder.phase

    @property
    def finished(self) -> float:
        return self.recorder.phase_at.get(self.phase, time.time())

    @property
    def total_seconds(self) -> float:
        return self.finished - self.submitted

    def failure_summary(self) -> dict[str, Any]:
        """Why a run did not succeed: its status message and error, and its unsuccessful
        tasks counted by state and error (a failed benchmark must say why)."""
        status = self.recorder.status
        states: dict[str, int] = {}
        errors: dict[str, int] = {}
        for text in self.records.values():
            record = text if isinstance(text, dict) else {}
            state = str(record.get("state", "?"))
            states[state] = states.get(state, 0) + 1
            error = record.get("error") or {}
            if state in ("FAILURE", "REVOKED") and isinstance(error, dict):
                key = f"{error.get('type')}: {str(error.get('message'))[:200]}"
                errors[key] = errors.get(key, 0) + 1
        top = sorted(errors.items(), key=lambda item: -item[1])[:10]
        return {
            "phase": self.phase,
            "message": status.get("message"),
            "error": status.get("error"),
            "states": states,
            "errors": dict(top),
        }

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
    node: NodeReader | None = None,
    events_stream: str | None = None,
) -> RunData:
    """Create the Workflow (a plain POST: no last-applied annotation), wait until it finished.

    With `node`, each finished pod's node records are read, and the kubelet's and
    containerd's logs after the run; with `events_stream` (the operator's, when it is this
    benchmark's own), the runtime's `started` reports are read from it."""
    recorder = Recorder(name, namespace=namespace, node=node)
    if node is not None:
        node.start()
    watches: list[Watch] = [
        api.watch(f"/apis/batch/v1/namespaces/{namespace}/jobs", recorder.on_job, name=f"{label}-jobs"),
        api.watch(f"/api/v1/namespaces/{namespace}/pods", recorder.on_pod, name=f"{label}-pods"),
        api.watch(
            f"/apis/kubecanvas.io/v1alpha1/namespaces/{namespace}/workflows?fieldSelector=metadata.name%3D{name}",
            recorder.on_workflow,
            name=f"{label}-workflow",
        ),
    ]
    submitted = time.time()
    stored_bytes = 0
    parts = split(spec)
    if parts is not None:
        # What `kubecanvas submit` has the results API do for a spec too large for etcd
        # (canvas/offload.py), done here directly: this benchmark's operator runs in-process,
        # where the API server's aggregation layer cannot reach it.
        spec, text = parts
        ref = CanvasRef.of(text)
        store.set(WorkflowKeys.upload(namespace, ref.sha256), text, ex=UPLOAD_TTL_SECONDS)
        stored_bytes = ref.bytes
    manifest = {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
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
                    f"{status.get('progress', '0/?')} done, {len(recorder.jobs)} Jobs created"
                    + (f", {len(recorder.runner_jobs)} runner Jobs" if recorder.runner_jobs else ""),
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
        if node is not None:
            node.stop()
    if node is not None:
        _complete_node_times(recorder, node)
    uid = recorder.uid
    keys = WorkflowKeys(uid)
    outcomes = hgetall(store, keys.outcomes)
    records = hgetall(store, keys.records)
    return RunData(
        name=name,
        namespace=namespace,
        uid=uid,
        submitted=submitted,
        recorder=recorder,
        outcomes=outcomes,
        records=records,
        watch_errors=[error for watch in watches for error in watch.errors] + (node.errors if node else []),
        started_reports=started_reports(store, events_stream, uid) if events_stream else {},
        stored_canvas_bytes=stored_bytes,
    )


def _complete_node_times(recorder: Recorder, node: NodeReader) -> None:
    """Pods never seen finished get their records read now; then the logs' times."""
    for pod in list(recorder.pods.values()):
        if pod.node is None:
            pod.node = node.read(recorder.namespace, pod.name, pod.uid, pod.container_id)
    kubelet, shims = node.log_times()
    for pod in recorder.pods.values():
        assert pod.node is not None
        pod.node.kubelet_status = kubelet.get(pod.uid)
        pod.node.shim_started = shims.get(pod.node.sandbox_id) if pod.node.sandbox_id else None


def started_reports(store: redis.Redis, stream: str, uid: str) -> dict[str, dict[str, float]]:
    """The runtime's `started` events of one workflow on `stream` (the benchmark's own)."""
    found: dict[str, dict[str, float]] = {}
    start = "-"
    while True:
        entries = cast(list[tuple[str, dict[str, str]]], store.xrange(stream, start, "+", count=5000))
        for entry_id, fields in entries:
            if fields.get("w") == uid and fields.get("k") == "started" and fields.get("at"):
                key = f"{fields.get('t')}#{fields.get('a')}"
                found.setdefault(
                    key, {"at": float(fields["at"]), "redis": int(entry_id.split("-")[0]) / 1000}
                )
        if len(entries) < 5000:
            return found
        start = "(" + entries[-1][0]
