"""The conductor: hosts the engine of every running workflow and carries out its steps.

News comes from three places: the Redis stream (a task started, succeeded, failed,
asked for a retry), the Job and pod watches (what Redis cannot tell: a pod killed, out
of memory, past its deadline, unable to pull its image), and the clock (countdowns,
retry delays, expiry). Each piece of news becomes an engine step that is persisted
in Redis *before* anything is done about it, so a `kill -9` at any moment loses
nothing: on restart the engine is rebuilt from Redis and the stream is re-read.

Each workflow is driven by the one host loop every program shares
(`kubecanvas.hosting.WorkflowHost`) with Jobs as its launcher (`launching`); what is the
conductor's own is which workflows it holds, where news comes from, and how a workflow
ends (status, Events, TTL). This module knows nothing of kopf; `handlers` wires it to the
operator framework.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas._kits.recent import Recent
from kubecanvas._kits.timestamps import from_rfc3339
from kubecanvas.canvas.model import WorkflowSpec
from kubecanvas.check import checked_spec
from kubecanvas.engine.effects import Launch, Notice, Step
from kubecanvas.engine.events import Failed, Revoke, Start
from kubecanvas.engine.machine import Engine
from kubecanvas.engine.states import Phase, TaskFailure
from kubecanvas.errors import InvalidWorkflow, KubeApiError, StateLostError, WorkerLostError
from kubecanvas.graph.nodes import ref_node_ids
from kubecanvas.hosting import EventMaker, LoopAlarm, WorkflowHost
from kubecanvas.resources import (
    ATTEMPT_LABEL,
    RUNNER_POOL_LABEL,
    TASK_ID_LABEL,
    WORKFLOW,
    WORKFLOW_UID_LABEL,
    job_name,
    task_secret_name,
)
from kubecanvas.store.hostside import PersistedWorkflow, WorkflowStore
from kubecanvas.store.layout import TaskEvent, WorkflowMeta
from kubecanvas_operator.canvases import joined_spec
from kubecanvas_operator.clients import ConductorClient, Provisioner
from kubecanvas_operator.config import OperatorConfig
from kubecanvas_operator.failures import AttemptFailure, check_pod_start, job_failure, unschedulable_since
from kubecanvas_operator.jobs import WorkflowIdentity
from kubecanvas_operator.kube import KubeApi
from kubecanvas_operator.launching import JobLauncher, api_backoff
from kubecanvas_operator.metrics import step_observations
from kubecanvas_operator.provisioning import NamespaceProvisioner
from kubecanvas_operator.queues import check_queues
from kubecanvas_operator.reuse import reuse_results
from kubecanvas_operator.runners import RoutedLauncher, RunnerPools
from kubecanvas_operator.status_writer import StatusWriter, ended_status, invalid_status, status_of

__all__ = ["Conductor", "Notifier"]

logger = logging.getLogger(__name__)

Notifier = Callable[[Mapping[str, Any], str, str, str], None]
"""notify(object_reference, type, reason, message): post a Kubernetes Event."""

_NOTICE_REASONS = {"retry": "TaskRetry", "failure": "TaskFailed", "errback": "ErrbackCalled"}
_FINISH_REASONS = {
    Phase.SUCCEEDED: "WorkflowSucceeded",
    Phase.FAILED: "WorkflowFailed",
    Phase.REVOKED: "WorkflowRevoked",
}
# A finished workflow's status is its last write: an API blip must not leave it Running.
# (An operator restart rewrites it too: resuming a finished workflow settles it again.)
_FINAL_STATUS_RETRIES = (0.5, 2.0, 5.0, 15.0, 30.0)
_PROBLEMS_IN_MESSAGE = 3
SETTLED_MEMORY = 10_000  # finished workflows remembered, to ignore late news about them
RESTORED_MEMORY = 10_000  # pods whose task Secret was made again (once per pod)

SECRET_RESTORED_GRACE = 60.0
"""Seconds a pod whose task Secret was made again has to start (the kubelet retries a
container it could not configure with a backoff of its own) before its attempt fails."""


@dataclass(eq=False)
class WorkflowRun:
    """A running workflow: its identity, its host (engine, Jobs) and its status writer."""

    identity: WorkflowIdentity
    launcher: JobLauncher
    pools: RunnerPools
    ttl: int | None
    host: WorkflowHost = field(init=False)
    status: StatusWriter | None = None

    @property
    def engine(self) -> Engine:
        return self.host.engine

    @property
    def reference(self) -> dict[str, Any]:
        """What a Kubernetes Event needs to point at the Workflow."""
        return WORKFLOW.reference(self.identity.name, self.identity.namespace, self.identity.uid)


class Conductor:
    def __init__(
        self,
        api: ConductorClient,
        store: WorkflowStore,
        config: OperatorConfig,
        notify: Notifier,
        observe: Callable[[str, float], None] | None = None,
        *,
        provisioner: Provisioner | None = None,
        clock: Callable[[], float] = time.time,
        backoff: Callable[[int], float] = api_backoff,
    ) -> None:
        """`api` is `kube.KubeApi` in the operator (a fake in unit tests); `provisioner`
        defaults to a `NamespaceProvisioner` on that same API; `clock` tells the time;
        `backoff(tries)` is the wait before trying an API call that could not land again."""
        self.api = api
        self.store = store
        self.config = config
        self.notify = notify
        self.observe = observe or (lambda metric, value: None)
        self.clock = clock
        self.backoff = backoff
        if provisioner is None:
            assert isinstance(api, KubeApi), "a fake API needs a fake provisioner"
            provisioner = NamespaceProvisioner(api, config, store)
        self.provisioner = provisioner
        self.runs: dict[str, WorkflowRun] = {}
        self._loading: dict[str, asyncio.Future[WorkflowRun | None]] = {}
        self._expiry_timers: dict[str, asyncio.TimerHandle] = {}
        self._pod_rechecks: dict[str, asyncio.TimerHandle] = {}  # pod uid -> its next look
        self._restored: Recent[str] = Recent(RESTORED_MEMORY)  # pods whose Secret was made again
        # Workflows this operator settled: late news about them (their Jobs completing or
        # being deleted) is ignored rather than reloading a large workflow from Redis.
        self._settled: Recent[str] = Recent(SETTLED_MEMORY)
        self._background: set[asyncio.Task[Any]] = set()

    # ================================================================ lifecycle

    async def admit(self, body: Mapping[str, Any]) -> None:
        """A Workflow exists (created now, or found at start-up): make sure it runs.

        Idempotent: a workflow already in Redis is resumed where it was, never reset."""
        metadata = body["metadata"]
        uid, name, namespace = metadata["uid"], metadata["name"], metadata["namespace"]
        if uid in self.runs:
            return
        status = body.get("status") or {}
        persisted = await self.store.load(uid)
        resumed = persisted is not None
        if persisted is None:
            if status.get("phase") in {phase.value for phase in Phase if phase.finished}:
                self._schedule_expiry(body)  # finished long ago; its Redis keys may have expired
                return
            if status.get("startedAt") or status.get("phase") == Phase.RUNNING.value:
                # It ran, and Redis no longer knows it: starting over would run tasks twice
                # and collide with its own Jobs. It ends, saying why.
                await self._state_lost(WorkflowIdentity(name, namespace, uid), None, body.get("spec"))
                return
            if not await self._create(body):
                return
            persisted = await self.store.load(uid)
            assert persisted is not None
        run = self._adopt(persisted)
        if run.engine.phase.finished:
            await self._settle(run)
            return
        if (body.get("spec") or {}).get("revoke"):
            await run.host.feed(Revoke)
            return
        await run.host.feed(Start)
        if resumed:  # a new workflow has nothing in flight from before: no Job to look up
            await self._reconcile(run)

    async def _create(self, body: Mapping[str, Any]) -> bool:
        """Compile a new Workflow and store it in Redis; False if it was refused as invalid.

        Its own method so that the spec, its model and the compiled graph are freed before
        `admit` loads the stored workflow: for a large canvas each is tens of MB in memory."""
        metadata = body["metadata"]
        uid, name, namespace = metadata["uid"], metadata["name"], metadata["namespace"]
        try:
            whole, stored = await joined_spec(self.store, metadata, body.get("spec"))
            checked = checked_spec(whole)
            spec, graph = checked.spec, checked.graph
            check_queues(graph, self.config.queues)  # a queue this cluster does not define
        except InvalidWorkflow as error:
            await self._reject(body, error)
            return False
        meta = WorkflowMeta(
            name=name,
            namespace=namespace,
            parallelism=spec.parallelism,
            code=spec.code.model_dump(mode="json", by_alias=True, exclude_none=True) if spec.code else None,
            imports=tuple(spec.imports),
            ttl=spec.ttl_seconds_after_finished,
            created_at=self.clock(),
        )
        del whole, checked, spec  # the graph is all that is stored
        # Each new workflow checks its namespace again: one deleted and created since the
        # last lost its task ServiceAccount, and its pods could never be created.
        self.provisioner.forget(namespace)
        # `kubecanvas retry`: what succeeded never runs again
        await reuse_results(self.store, self.api, self.notify, body, graph)
        if stored is not None:  # before the graph: a workflow in Redis has all it needs
            await self.store.keep_canvas(uid, stored)
        await self.store.create(uid, graph, meta)
        identity = WorkflowIdentity(name, namespace, uid)
        logger.info("workflow %s/%s admitted", namespace, name, extra=identity.log_fields())
        return True

    async def revoke(self, uid: str) -> None:
        run = await self._run_for(uid)
        if run is not None:
            await run.host.feed(Revoke)

    async def forget(self, uid: str) -> None:
        """The Workflow was deleted: its Jobs go with it (owner references), its keys here."""
        run = self.runs.pop(uid, None)
        if run is not None:
            run.host.close()
            run.launcher.cancel()
            run.pools.close()
            if run.status:
                run.status.cancel()
        timer = self._expiry_timers.pop(uid, None)
        if timer:
            timer.cancel()
        await self.provisioner.release(uid)
        await self.store.delete(uid)

    async def reconcile_running(self) -> None:
        """Look again at every running workflow, as after a restart: attempts whose report
        or Job event was lost (a watch gap, a Redis blip, an API outage) are adopted, Jobs
        that should exist and do not are created, the Redis user of pods still running is
        granted again (a Redis restart forgets ACL users). Costs one Redis read and one Job
        read per attempt in flight."""
        for run in list(self.runs.values()):
            if run.host.closed:
                continue
            identity = run.identity
            if not await self.store.exists(identity.uid):  # Redis flushed, or not persisted
                await self._state_lost(identity, run)
                continue
            if run.engine.in_flight:
                await self.provisioner.credentials(identity.namespace, identity.name, identity.uid)
            await self._reconcile(run)

    def engines(self) -> list[Engine]:
        """The engines of the workflows running here (what the metrics count)."""
        return [run.engine for run in list(self.runs.values())]

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until the work started in the background (Job creations, retried status
        writes, timers that fired) is done, including what that work starts in turn."""
        deadline = asyncio.get_running_loop().time() + timeout
        while pending := [task for task in self._background if not task.done()]:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"{len(pending)} background task(s) still running")
            await asyncio.wait(pending, timeout=remaining)
        await asyncio.sleep(0)  # the done-callbacks that drop finished tasks

    async def close(self) -> None:
        for run in self.runs.values():
            run.host.close()
            if run.status:
                run.status.cancel()
        for timer in (*self._expiry_timers.values(), *self._pod_rechecks.values()):
            timer.cancel()
        for task in list(self._background):
            task.cancel()

    # ================================================================ news

    async def on_task_events(self, events: Iterable[TaskEvent]) -> None:
        """A batch from the Redis stream: applied per workflow, in order, one step each."""
        by_workflow: dict[str, list[TaskEvent]] = defaultdict(list)
        for event in events:
            if event.workflow_uid:
                by_workflow[event.workflow_uid].append(event)
        await asyncio.gather(*(self._apply_events(uid, batch) for uid, batch in by_workflow.items()))

    async def _apply_events(self, uid: str, events: list[TaskEvent]) -> None:
        run = await self._run_for(uid)
        if run is None:
            return
        received = self.clock()
        step = await run.host.feed(*await self._believed(uid, events))
        for event in events:
            if event.kind != "started" and event.at:
                self.observe("report_delay", received - event.at)
        if step is not None and step.launches:
            self.observe("hops", float(len(step.launches)))
            written = [event.at for event in events if event.kind != "started" and event.at]
            if written:  # a task's result written -> the Jobs it made ready created
                launching = run.launcher.launching
                launches = [
                    launching[key]
                    for key in ((launch.node.id, launch.attempt) for launch in step.launches)
                    if key in launching
                ]
                self._spawn(self._observe_step_latency(launches, max(written)))

    async def _believed(self, uid: str, events: list[TaskEvent]) -> list[EventMaker]:
        """The news worth feeding: how an attempt ended is read from the workflow's own
        outcomes, never from the stream entry. The stream is shared by every workflow; the
        outcome hash is written only by the workflow's own tasks (in the same transaction as
        their entry), so an entry without one — forged, or about another attempt — is ignored."""
        ended = [(event.task_id, event.attempt) for event in events if event.kind != "started"]
        stored = await self.store.outcomes(uid, ended)
        believed: list[EventMaker] = []
        for event in events:
            if event.kind == "started":
                believed.append(event.event)
            elif (outcome := stored.get((event.task_id, event.attempt))) is not None:
                believed.append(functools.partial(outcome.event, event.task_id, event.attempt))
            else:
                logger.warning(
                    "ignoring news of task %s attempt %s of workflow %s: no outcome stored for it",
                    event.task_id,
                    event.attempt,
                    uid,
                )
        return believed

    async def _observe_step_latency(self, launches: list[asyncio.Task[None]], written: float) -> None:
        if launches:
            await asyncio.wait(launches)
        self.observe("step_latency", self.clock() - written)

    async def on_job(self, event_type: str, job: Mapping[str, Any]) -> None:
        """A Job of ours changed: act only on what Redis cannot tell (a silent death),
        and remove it once it completed (its work is in Redis; etcd stays small)."""
        conditions = {
            c.get("type"): c.get("status") for c in (job.get("status") or {}).get("conditions") or []
        }
        if RUNNER_POOL_LABEL in ((job.get("metadata") or {}).get("labels") or {}):
            await self._on_runner_job(event_type, job, conditions)
            return
        found = await self._attempt_of(job)
        if found is None:
            if conditions.get("Complete") == "True" and self.config.delete_succeeded_jobs:
                await self._delete_completed(job)
            return
        run, task_id, attempt = found
        metadata = job["metadata"]
        if event_type == "DELETED":
            if await self.api.get_workflow(run.identity.namespace, run.identity.name) is None:
                await self.forget(run.identity.uid)  # the Workflow went first: its Jobs follow it
                return
            failure: AttemptFailure | None = AttemptFailure(
                TaskFailure.of(WorkerLostError, f"the task's Job {metadata['name']} was deleted"),
                lost=True,
            )
        elif conditions.get("Failed") == "True":
            pods = await self.api.job_pods(metadata["namespace"], metadata["name"])
            failure = job_failure(dict(job), pods)
        elif conditions.get("Complete") == "True":
            failure = AttemptFailure(
                TaskFailure.of(WorkerLostError, "the task exited successfully without reporting"),
                lost=True,
            )
        else:
            return
        await self._attempt_ended(run, task_id, attempt, failure)
        if conditions.get("Complete") == "True" and self.config.delete_succeeded_jobs:
            await self._delete_completed(job)

    async def _on_runner_job(
        self, event_type: str, job: Mapping[str, Any], conditions: Mapping[str, str | None]
    ) -> None:
        """A warm runner's Job (operator/runners.py): once it ended, what it held is lost."""
        metadata = job["metadata"]
        complete = conditions.get("Complete") == "True"
        ended = complete or conditions.get("Failed") == "True"
        uid = (metadata.get("labels") or {}).get(WORKFLOW_UID_LABEL)
        run = await self._run_for(uid) if uid else None
        if run is not None and (event_type == "DELETED" or ended):
            if event_type == "DELETED":
                why = f"its Job {metadata['name']} was deleted"
            else:
                pods = await self.api.job_pods(metadata["namespace"], metadata["name"])
                failure = job_failure(dict(job), pods)
                why = failure.error.message if failure else "it exited"
            await run.pools.runner_ended(run.host, metadata["name"], why)
        if event_type != "DELETED" and complete and self.config.delete_succeeded_jobs:
            await self._delete_completed(job)

    async def _delete_completed(self, job: Mapping[str, Any]) -> None:
        """Have a Job whose pod exited 0 removed soon: its work is in Redis, and etcd must
        stay small. Only once Kubernetes saw it complete (deleting earlier would SIGTERM a
        runtime that is still exiting), and after a short TTL, so `kubecanvas logs` of a
        quick task still finds its pod."""
        metadata = job["metadata"]
        if metadata.get("deletionTimestamp"):
            return
        ttl = self.config.succeeded_job_ttl_seconds
        try:
            if ttl <= 0:
                await self.api.delete_job(metadata["namespace"], metadata["name"])
            elif (job.get("spec") or {}).get("ttlSecondsAfterFinished") != ttl:
                await self.api.expire_job(metadata["namespace"], metadata["name"], ttl)
        except KubeApiError as error:
            logger.warning(
                "cannot remove completed Job %s: %s",
                metadata["name"],
                error,
                extra={"namespace": metadata["namespace"], "job": metadata["name"]},
            )

    async def on_pod(self, pod: Mapping[str, Any], *, gone: bool = False) -> None:
        """A pod of ours that has not started: one that never will (bad image, missing Secret,
        no node for it, ...) fails its attempt; one that may is looked at again in time.
        `gone`: it left the watch (it started, or was deleted): no look again is needed."""
        if gone:
            self._cancel_recheck(pod)
            return
        now, timeout = self.clock(), self.config.unschedulable_timeout_seconds
        # Most pending pods are merely starting: the pure check, at its most lenient, says so
        # before any workflow is looked up (this runs for every Pending pod event).
        check = check_pod_start(dict(pod), now, timeout, capacity_is_ours=True)
        if check.failure is None and check.look_again_at is None:
            # Scheduled now, or starting: a look again planned while it waited would only
            # list pods (in a saturated 500-task fan-out, 1.4 listings per task).
            self._cancel_recheck(pod)
            return
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if labels.get(RUNNER_POOL_LABEL):
            await self._on_runner_pod(pod, labels)
            return
        found = await self._attempt_of(pod)
        if found is None:
            return
        run, task_id, attempt = found
        if run.engine.in_flight <= 1:  # no attempt of its own workflow holds the room it waits for
            check = check_pod_start(dict(pod), now, timeout, capacity_is_ours=False)
        if check.failure is not None:
            if await self._restored_secret(run, pod, check.failure):
                self._recheck_pod_at(pod, now + SECRET_RESTORED_GRACE)
                return
            await self._attempt_ended(run, task_id, attempt, check.failure)
            await run.launcher.delete(task_id, attempt)
        elif check.look_again_at is not None:
            # Nothing may change on a waiting pod before then: no event would come.
            self._recheck_pod_at(pod, check.look_again_at)

    async def _on_runner_pod(self, pod: Mapping[str, Any], labels: Mapping[str, str]) -> None:
        """A warm runner's pod that has not started: its pool's queued tasks wait with it, an
        Event says why; one that never will fails them (operator/runners.py)."""
        uid, name, pool = labels.get(WORKFLOW_UID_LABEL), labels.get("job-name"), labels[RUNNER_POOL_LABEL]
        run = await self._run_for(uid) if uid else None
        if not name:
            return
        if run is None:  # its workflow ended (or is gone) while it waited: it is not needed
            with contextlib.suppress(KubeApiError):
                await self.api.delete_job(str(pod["metadata"].get("namespace")), name)
            return
        now, timeout = self.clock(), self.config.unschedulable_timeout_seconds
        check = check_pod_start(dict(pod), now, timeout, capacity_is_ours=run.engine.in_flight > 1)
        if check.failure is not None:
            await run.pools.runner_cannot_start(run.host, name, pool, check.failure.error)
        elif check.look_again_at is not None:
            waiting = unschedulable_since(dict(pod))
            if waiting is not None:
                run.pools.runner_waiting(name, waiting[1])
            self._recheck_pod_at(pod, check.look_again_at)

    async def _restored_secret(
        self, run: WorkflowRun, pod: Mapping[str, Any], failure: AttemptFailure
    ) -> bool:
        """A pod waiting for its workflow's task Secret, deleted by hand: the Secret is made
        again (once per pod) and the kubelet starts the container at its next try."""
        pod_uid = _pod_uid(pod)
        secret = task_secret_name(run.identity.uid)
        missing = f'secret "{secret}" not found'
        error = failure.error
        if (
            error.type != "CreateContainerConfigError"
            or missing not in error.message
            or pod_uid in self._restored
        ):
            return False
        self._restored.add(pod_uid)
        identity = run.identity
        try:
            await self.provisioner.restore(identity.namespace, identity.name, identity.uid)
        except KubeApiError as failed:
            logger.warning("cannot restore the task Secret of %s: %s", identity.qualified, failed)
            return False
        message = f"task Secret {secret} was deleted; made again for its pods"
        self.notify(run.reference, "Warning", "SecretRestored", message)
        return True

    def _cancel_recheck(self, pod: Mapping[str, Any]) -> None:
        timer = self._pod_rechecks.pop(_pod_uid(pod), None)
        if timer is not None:
            timer.cancel()

    def _recheck_pod_at(self, pod: Mapping[str, Any], at: float) -> None:
        """Look at a pod again at `at` (once per pod; a restarted operator relists pending pods)."""
        metadata = pod.get("metadata") or {}
        uid, namespace, job = (
            metadata.get("uid"),
            metadata.get("namespace"),
            (metadata.get("labels") or {}).get("job-name"),
        )
        if not (uid and namespace and job) or uid in self._pod_rechecks:
            return

        async def recheck() -> None:
            self._pod_rechecks.pop(uid, None)
            for current in await self.api.job_pods(namespace, job):
                if _pod_uid(current) == uid:
                    await self.on_pod(current)

        delay = max(0.0, at - self.clock()) + 0.5
        self._pod_rechecks[uid] = asyncio.get_running_loop().call_later(delay, lambda: self._spawn(recheck()))

    async def _attempt_of(self, obj: Mapping[str, Any]) -> tuple[WorkflowRun, str, int] | None:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        uid, task_id, attempt = (
            labels.get(WORKFLOW_UID_LABEL),
            labels.get(TASK_ID_LABEL),
            labels.get(ATTEMPT_LABEL),
        )
        if not (uid and task_id and attempt and attempt.isdigit()):
            return None
        run = await self._run_for(uid)
        if run is None:
            return None
        record = run.engine.records.get(task_id)
        if record is None or record.terminal or not record.launched or record.attempt != int(attempt):
            return None  # stale: an old attempt, or news the engine already has
        return run, task_id, int(attempt)

    async def _attempt_ended(
        self, run: WorkflowRun, task_id: str, attempt: int, failure: AttemptFailure | None
    ) -> None:
        """The attempt is over. If the runtime did report, its outcome wins (the stream may lag)."""
        outcome = await self.store.outcome(run.identity.uid, task_id, attempt)
        if outcome is not None:
            await run.host.feed(lambda now: outcome.event(task_id, attempt, now))
        elif failure is not None:
            error, lost = failure.error, failure.lost
            await run.host.feed(lambda now: Failed(task_id, attempt, error, now, lost=lost))

    # ================================================================ after each step

    async def _after_step(self, run: WorkflowRun, step: Step) -> None:
        """What a step means beyond its Jobs: Events, the status, metrics (under the lock)."""
        for notice in step.notices:
            self._post_notice(run, notice)
        if run.status is not None and not run.engine.phase.finished:
            if step.phase_changed:
                await run.status.flush()
            elif step.changed:
                run.status.request()
        for metric, value in step_observations(run.engine, step):
            self.observe(metric, value)

    async def _finished(self, run: WorkflowRun) -> None:
        phase = run.engine.phase.value.lower()
        logger.info("workflow %s %s", run.identity.qualified, phase, extra=run.identity.log_fields())
        await self._settle(run)

    # ================================================================ loading

    async def _run_for(self, uid: str) -> WorkflowRun | None:
        """The run of a workflow, loaded from Redis if this operator has not seen it yet."""
        run = self.runs.get(uid)
        if run is not None:
            return run
        if uid in self._settled:
            return None
        if uid in self._loading:
            return await self._loading[uid]
        future: asyncio.Future[WorkflowRun | None] = asyncio.get_running_loop().create_future()
        self._loading[uid] = future
        try:
            run = await self._load(uid)
            future.set_result(run)
            return run
        except BaseException as error:
            future.set_exception(error)
            raise
        finally:
            del self._loading[uid]

    async def _load(self, uid: str) -> WorkflowRun | None:
        persisted = await self.store.load(uid)
        if persisted is None:
            return None
        namespace, name = persisted.meta.namespace, persisted.meta.name
        if not self.config.watches(namespace):
            return None
        body = await self.api.get_workflow(namespace, name)
        if body is None or body["metadata"]["uid"] != uid:
            logger.info(
                "workflow %s/%s (%s) is gone; removing its state",
                namespace,
                name,
                uid,
                extra=WorkflowIdentity(name, namespace, uid).log_fields(),
            )
            await self.store.delete(uid)
            return None
        run = self._adopt(persisted)
        if run.engine.phase.finished:
            await self._settle(run)
            return None
        return run

    def _adopt(self, persisted: PersistedWorkflow) -> WorkflowRun:
        meta = persisted.meta
        identity = WorkflowIdentity(
            name=meta.name, namespace=meta.namespace, uid=persisted.uid, code=meta.code, imports=meta.imports
        )
        launcher = JobLauncher(
            identity, self.api, self.provisioner, self.config, self._spawn, backoff=self.backoff
        )
        pools = RunnerPools(
            identity,
            self.api,
            self.store,
            provisioner=self.provisioner,
            config=self.config,
            spawn=self._spawn,
            notify=self.notify,
            backoff=self.backoff,
        )
        run = WorkflowRun(identity, launcher, pools, ttl=meta.ttl)
        run.host = WorkflowHost(
            persisted.uid,
            persisted.engine(),
            launcher=RoutedLauncher(launcher, pools),
            alarm=LoopAlarm(),
            store=self.store,
            clock=self.clock,
            after_step=lambda host, step: self._after_step(run, step),
            on_finished=lambda host: self._finished(run),
            on_lost=lambda host, error: self._state_lost(run.identity, run),
            spawn=self._spawn,
        )
        run.status = StatusWriter(
            build=lambda: self._status_of(run),
            write=lambda status: self.api.patch_workflow_status(identity.namespace, identity.name, status),
            interval=self.config.status_interval,
        )
        self.runs[persisted.uid] = run
        return run

    async def _reconcile(self, run: WorkflowRun) -> None:
        """Every attempt the engine believes in flight either reported (its outcome is in
        Redis), has a Job, or gets one (same deterministic name). Costs one Redis read and
        one listing of the workflow's Jobs, however many attempts are in flight (a read per
        attempt was 6 API calls per task over a 500-task fan-out, `make bench`)."""
        in_flight = [
            (node_id, record.attempt)
            for node_id, record in run.engine.records.items()
            if record.launched and not record.terminal
        ]
        if not in_flight:
            return
        identity = run.identity
        outcomes = await self.store.outcomes(identity.uid, in_flight)
        silent = [attempt for attempt in in_flight if attempt not in outcomes]
        jobs = await self.api.workflow_jobs(identity.namespace, identity.uid) if silent else {}
        nodes = run.engine.nodes
        warm = {
            attempt: pool for attempt in silent if (pool := run.pools.pool_of(nodes[attempt[0]])) is not None
        }
        if warm:
            silent = [attempt for attempt in silent if attempt not in warm]
        if outcomes:  # reported, and the news lost: adopted in one step
            await run.host.feed(
                *(
                    functools.partial(outcome.event, task_id, attempt)
                    for (task_id, attempt), outcome in outcomes.items()
                )
            )
        semaphore = asyncio.Semaphore(self.config.api_concurrency)

        async def check(task_id: str, attempt: int) -> None:
            if (task_id, attempt) in run.launcher.launching:
                return  # its Job is being created right now
            job = jobs.get(job_name(identity.name, task_id, attempt))
            async with semaphore:
                if job is None:  # a create that exists already is a no-op (create_job says False)
                    await run.launcher.create(run.host, Launch(run.engine.nodes[task_id], attempt))
                else:
                    await self.on_job("MODIFIED", job)

        await asyncio.gather(*(check(task_id, attempt) for task_id, attempt in silent))
        if warm or jobs:  # warm attempts: queued, in a runner's hands, or lost with a runner (runners.py)
            await run.pools.reconcile(run.host, warm, jobs)

    # ================================================================ endings

    async def _settle(self, run: WorkflowRun) -> None:
        """A finished workflow: final status, Redis expiry, TTL deletion; then let go of it."""
        if run.status is not None and not await run.status.flush():
            # Retried in the background: the events of other workflows must not wait on it.
            self._spawn(run.status.flush(retries=_FINAL_STATUS_RETRIES))
        await self.store.announce_finished(run.identity.uid, run.engine.phase)  # wake waiting clients
        run.host.close()
        await self._release(run)  # its pods need Redis no more
        self.runs.pop(run.identity.uid, None)
        self._settled.add(run.identity.uid)
        if run.ttl is not None:
            await self.store.expire(run.identity.uid, run.ttl + 3600)
            finished = run.engine.finished_at or self.clock()
            self._schedule_deletion(run.identity, finished + run.ttl)

    async def _state_lost(
        self, identity: WorkflowIdentity, run: WorkflowRun | None, spec: Mapping[str, Any] | None = None
    ) -> None:
        """Its state left Redis while it ran (flushed, or a Redis without persistence restarted):
        what its tasks did cannot be known, so it ends Failed, saying so, and its attempts in
        flight are stopped. Never Running forever, never started over."""
        message = (
            "the workflow's state was lost from Redis while it ran (Redis was flushed, or restarted "
            f"without persistence): its tasks' outcomes cannot be known; `kubecanvas retry {identity.name}` "
            "runs it again"
        )
        logger.error("workflow %s: %s", identity.qualified, message, extra=identity.log_fields())
        ttl = _ttl_after_finished(spec)
        writer = None
        if run is not None:
            ttl = run.ttl
            run.host.close()
            run.launcher.cancel()
            writer = run.status
            for task_id, record in run.engine.records.items():
                if record.launched and not record.terminal:
                    self._spawn(run.launcher.delete(task_id, record.attempt))
        self.runs.pop(identity.uid, None)
        self._settled.add(identity.uid)
        await self.store.delete(identity.uid)  # what a late step or report wrote again
        await self.store.announce_finished(identity.uid, Phase.FAILED)
        if run is not None:
            await self._release(run)
        else:
            await self.provisioner.release(identity.uid)
        now = self.clock()
        self._spawn(self._end_status(identity, ended_status(StateLostError.__name__, message, now), writer))
        reference = WORKFLOW.reference(identity.name, identity.namespace, identity.uid)
        self.notify(reference, "Warning", "StateLost", message)
        if ttl is not None:
            self._schedule_deletion(identity, now + ttl)

    async def _release(self, run: WorkflowRun) -> None:
        """Remove the workflow's Redis user: at once, or, if it has warm runners, once they
        are gone (they look at their workflow's phase with it, and exit when it has ended)."""
        uid = run.identity.uid
        closing = run.pools.close()
        if closing is None:
            await self.provisioner.release(uid)
        else:
            closing.add_done_callback(lambda _: self._spawn(self.provisioner.release(uid)))

    async def _end_status(
        self, identity: WorkflowIdentity, status: JSONObject, writer: StatusWriter | None = None
    ) -> None:
        """Write a final status the engine does not know, across API outages of any length;
        after the last write of the run's own `writer`, which writes no more."""
        if writer is not None:
            await writer.close()
        tries = 0
        while True:
            try:
                await self.api.patch_workflow_status(identity.namespace, identity.name, status)
                return
            except KubeApiError as error:
                if not error.transient:
                    logger.error(
                        "cannot end workflow %s: %s", identity.qualified, error, extra=identity.log_fields()
                    )
                    return
            await asyncio.sleep(self.backoff(tries))
            tries += 1

    def _schedule_expiry(self, body: Mapping[str, Any]) -> None:
        ttl = _ttl_after_finished(body.get("spec"))
        finished = (body.get("status") or {}).get("finishedAt")
        if ttl is None or not finished:
            return
        metadata = body["metadata"]
        identity = WorkflowIdentity(metadata["name"], metadata["namespace"], metadata["uid"])
        self._schedule_deletion(identity, from_rfc3339(finished) + ttl)

    def _schedule_deletion(self, identity: WorkflowIdentity, at: float) -> None:
        """`ttlSecondsAfterFinished`: delete the Workflow (and so its Jobs and keys) later."""
        previous = self._expiry_timers.pop(identity.uid, None)
        if previous:
            previous.cancel()

        async def delete() -> None:
            self._expiry_timers.pop(identity.uid, None)
            try:
                await self.api.delete_workflow(identity.namespace, identity.name, identity.uid)
            except KubeApiError as error:
                logger.warning(
                    "cannot delete expired workflow %s: %s",
                    identity.qualified,
                    error,
                    extra=identity.log_fields(),
                )
            await self.store.delete(identity.uid)

        delay = max(0.0, at - self.clock())
        self._expiry_timers[identity.uid] = asyncio.get_running_loop().call_later(
            delay, lambda: self._spawn(delete())
        )

    async def _reject(self, body: Mapping[str, Any], error: InvalidWorkflow) -> None:
        """An invalid Workflow ends Failed at once, its status and an Event naming the field."""
        metadata = body["metadata"]
        problems = [str(problem) for problem in error.problems]
        # The MESSAGE column of `kubectl get workflows`: the first few; all in status.problems.
        more = len(problems) - _PROBLEMS_IN_MESSAGE
        message = "invalid workflow: " + "; ".join(problems[:_PROBLEMS_IN_MESSAGE])
        if more > 0:
            message += f" (and {more} more in status.problems)"
        await self.api.patch_workflow_status(
            metadata["namespace"], metadata["name"], invalid_status(message, problems, self.clock())
        )
        reference = WORKFLOW.reference(metadata["name"], metadata["namespace"], metadata.get("uid"))
        self.notify(reference, "Warning", "InvalidWorkflow", message[:1000])

    # ================================================================ helpers

    async def _status_of(self, run: WorkflowRun) -> JSONObject:
        engine = run.engine
        results: dict[str, JSON] = {}
        if engine.phase.finished:
            results = await self.store.results(run.identity.uid, list(ref_node_ids(engine.graph.result)))
        return status_of(engine, results, self.clock())

    def _post_notice(self, run: WorkflowRun, notice: Notice) -> None:
        if notice.kind == "finished":
            reason = _FINISH_REASONS.get(run.engine.phase, "WorkflowFinished")
        else:
            reason = _NOTICE_REASONS.get(notice.kind, "Notice")
        self.notify(run.reference, "Warning" if notice.warning else "Normal", reason, notice.message[:1000])

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)
        return task


def _ttl_after_finished(spec: Mapping[str, Any] | None) -> int | None:
    """A raw spec's `ttlSecondsAfterFinished`, with the Workflow model's default when unset."""
    default = WorkflowSpec.model_fields["ttl_seconds_after_finished"].default
    ttl = (spec or {}).get("ttlSecondsAfterFinished", default)
    return int(ttl) if ttl is not None else None


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("background work failed", exc_info=task.exception())


def _pod_uid(pod: Mapping[str, Any]) -> str:
    """A pod's uid, "" if it has none (what its look again and its restored Secret are keyed by)."""
    return str((pod.get("metadata") or {}).get("uid") or "")
