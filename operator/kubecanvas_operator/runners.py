"""Warm runners: a task with `runner: warm` runs in a forked process of a long-lived runner
pod of its workflow (runtime/kubecanvas_runtime/runner.py), not in a Job of its own.

A *pool* is the warm tasks of one workflow that share a pod template: their placement
options, their queue's included (image, resources, env, node selector, ...). For each,
the operator

- queues every warm attempt in Redis, once ever (`WorkflowStore.enqueue`);
- keeps as many runners (Jobs, one pod each) as the pool has attempts in flight, at most
  `runners_per_pool`; a runner exits by itself after `runner_idle_seconds` without work
  (an idle pool scales to zero) and when its workflow has ended;
- withdraws a killed attempt (revoked, expired, the workflow over): out of the queue if no
  runner took it, else its runner kills the process (`WorkflowStore.withdraw`);
- when a runner's Job ends (its pod died, was deleted or evicted), fails what it held as
  lost (WorkerLostError: retried per the task's policy, never run twice) and starts another
  runner if work is left;
- when a runner's pod cannot start (no node for it, an image that cannot be pulled), fails
  the attempts still queued in its pool with the reason, as their own pods would have
  failed; while it waits, an Event on the Workflow says why.

Which runner holds what is in Redis (store/runnerside.py), so a restarted operator loses
nothing: `reconcile` finds attempts never queued and attempts whose runner is gone.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import math
import secrets
import string
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from kubecanvas._kits.jsonvalues import JSONObject, dumps
from kubecanvas.engine.effects import Kill, Launch
from kubecanvas.engine.events import Failed
from kubecanvas.engine.states import TaskFailure
from kubecanvas.errors import JobCreationError, KubeApiError, WorkerLostError
from kubecanvas.graph.nodes import TaskNode
from kubecanvas.hosting import EventMaker, WorkflowHost
from kubecanvas.resources import RUNNER_POOL_LABEL, WORKFLOW, runner_job_name
from kubecanvas.store.hostside import WorkflowStore
from kubecanvas.store.layout import RunItem, WorkflowKeys
from kubecanvas_operator.clients import JobClient, Provisioner
from kubecanvas_operator.config import OperatorConfig
from kubecanvas_operator.jobs import WorkflowIdentity, build_runner_job
from kubecanvas_operator.launching import JobLauncher, api_backoff
from kubecanvas_operator.queues import PLACEMENT, with_queue

__all__ = ["RoutedLauncher", "RunnerPools", "runner_pool"]

logger = logging.getLogger(__name__)

WARM = "warm"  # the `runner` option's value that asks for a warm runner
RECENT_RUNNER_SECONDS = 60.0
"""A runner Job this operator created this recently and missing from a reconcile's listing of
Jobs was created after the listing: it is not taken for gone."""
_SERIAL = string.ascii_lowercase  # a runner name ends in letters; a task's Job name in digits

Notifier = Callable[[Mapping[str, Any], str, str, str], None]


def runner_pool(node: TaskNode, queues: Mapping[str, JSONObject]) -> tuple[str, JSONObject] | None:
    """The pool of a warm task and its effective options (its queue's under its own); None
    for a task that runs in a pod of its own."""
    options = with_queue(node.options, queues)
    if options.get("runner") != WARM:
        return None
    placement = {name: options[name] for name in PLACEMENT if name in options}
    return hashlib.sha256(dumps(placement).encode()).hexdigest()[:8], options


def job_ended(job: Mapping[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions)


class RunnerPools:
    """The warm runners of one workflow."""

    def __init__(
        self,
        identity: WorkflowIdentity,
        api: JobClient,
        store: WorkflowStore,
        *,
        provisioner: Provisioner,
        config: OperatorConfig,
        spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
        notify: Notifier,
        backoff: Callable[[int], float] = api_backoff,
    ) -> None:
        self.identity = identity
        self.api = api
        self.store = store
        self.provisioner = provisioner
        self.config = config
        self.spawn = spawn
        self.notify = notify
        self.backoff = backoff
        self.live: dict[str, set[str]] = defaultdict(set)  # pool -> runners started, not seen end
        self.outstanding: dict[str, set[tuple[str, int]]] = defaultdict(set)  # pool -> attempts
        self.templates: dict[str, JSONObject] = {}  # pool -> its tasks' effective options
        self.creating: dict[str, asyncio.Task[None]] = {}  # runner -> its Job being created
        self.created: dict[str, float] = {}  # runner -> when its Job was created (monotonic)
        self.waiting_said: set[str] = set()  # runner pods whose wait an Event told

    def pool_of(self, node: TaskNode) -> str | None:
        found = self._pool(node)
        return found[0] if found is not None else None

    def _pool(self, node: TaskNode) -> tuple[str, JSONObject] | None:
        """The task's pool and effective options (`runner_pool`), the pool's pod template
        remembered (the same for the whole pool); None if the task does not run warm."""
        found = runner_pool(node, self.config.queues)
        if found is not None:
            self.templates.setdefault(*found)
        return found

    def pool_of_runner(self, name: str) -> str | None:
        return next((pool for pool, names in self.live.items() if name in names), None)

    # ------------------------------------------------------------ attempts

    def launch(self, host: WorkflowHost, launch: Launch) -> bool:
        """Queue the attempt for its pool; False (nothing done) if its task does not run warm."""
        node, attempt = launch.node, launch.attempt
        found = self._pool(node)
        if found is None:
            return False
        pool, options = found
        timeout = options.get("timeout")  # the task's own: not part of the pool
        item = RunItem(
            node.id,
            attempt,
            pool,
            expires_at=host.engine.records[node.id].expires_at,
            timeout=float(timeout) if isinstance(timeout, int | float) else None,
        )
        self.outstanding[pool].add((node.id, attempt))
        self.spawn(self._queue(host, item))
        return True

    async def _queue(self, host: WorkflowHost, item: RunItem) -> None:
        await self.store.enqueue(self.identity.uid, item)  # a failure: the reconcile queues it
        self.scale(host, item.pool)

    def kill(self, host: WorkflowHost, kill: Kill) -> bool:
        """Withdraw the attempt; False (nothing done) if its task does not run warm."""
        node = host.engine.nodes.get(kill.task_id)
        pool = self.pool_of(node) if node is not None else None
        if pool is None:
            return False
        self.outstanding[pool].discard((kill.task_id, kill.attempt))
        item = RunItem(kill.task_id, kill.attempt, pool)
        self.spawn(self.store.withdraw(self.identity.uid, item, kill.reason))
        return True

    # ------------------------------------------------------------ runners

    def scale(self, host: WorkflowHost, pool: str) -> None:
        """Start runners until the pool has one per attempt in flight: at most its tasks'
        `runners` option (a queue's, usually), else the operator's `runners_per_pool`."""
        if host.closed:
            return
        records = host.engine.records
        waiting = self.outstanding[pool]
        for task_id, attempt in list(waiting):
            record = records.get(task_id)
            if record is None or record.terminal or record.attempt != attempt:
                waiting.discard((task_id, attempt))
        cap = self.templates[pool].get("runners")
        wanted = min(len(waiting), cap if isinstance(cap, int) else self.config.runners_per_pool)
        for _ in range(wanted - len(self.live[pool])):
            serial = "".join(secrets.choice(_SERIAL) for _ in range(5))
            name = runner_job_name(self.identity.name, pool, serial)
            self.live[pool].add(name)
            task = self.spawn(self._start(host, pool, name))
            self.creating[name] = task
            task.add_done_callback(functools.partial(self._created, name))

    def _created(self, name: str, task: asyncio.Task[None]) -> None:
        self.creating.pop(name, None)

    async def _start(self, host: WorkflowHost, pool: str, name: str) -> None:
        """Create a runner's Job, through API outages; one the API refuses fails the pool's
        queued attempts (as each one's own Job would have been refused)."""
        identity, tries = self.identity, 0
        try:
            while True:
                try:
                    await self.provisioner.prepare(identity.namespace)
                    redis = await self.provisioner.credentials(
                        identity.namespace, identity.name, identity.uid
                    )
                    await self.store.add_runner(identity.uid, name)
                    manifest = build_runner_job(
                        identity, pool, name, self.templates[pool], self.config, redis=redis
                    )
                    await self.api.create_job(manifest)
                    self.created[name] = time.monotonic()
                    logger.info(
                        "workflow %s: warm runner %s started for pool %s",
                        identity.qualified,
                        name,
                        pool,
                        extra=identity.log_fields(),
                    )
                    return
                except KubeApiError as error:
                    if not error.transient:
                        raise
                    if host.closed:
                        self.live[pool].discard(name)
                        return
                    await asyncio.sleep(self.backoff(tries))
                    tries += 1
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - refused: the pool's attempts fail with the reason
            self.live[pool].discard(name)
            reason = str(error) if isinstance(error, KubeApiError) else f"{type(error).__name__}: {error}"
            failure = TaskFailure.of(JobCreationError, f"cannot create the warm runner's Job: {reason}")
            logger.warning(
                "workflow %s: %s", identity.qualified, failure.message, extra=identity.log_fields()
            )
            await self.fail_queued(host, pool, failure)

    async def fail_queued(self, host: WorkflowHost, pool: str, failure: TaskFailure) -> None:
        """Fail every attempt still queued in `pool` (no runner of it can start)."""
        items = await self.store.drain_queue(self.identity.uid, pool)
        if items:
            await host.feed(*(_failed(item, failure) for item in items))

    async def runner_ended(self, host: WorkflowHost, name: str, why: str) -> None:
        """A runner's Job ended (or vanished): what it held and did not report is lost."""
        pool = self.pool_of_runner(name)
        if pool is not None:
            self.live[pool].discard(name)
        self.waiting_said.discard(name)
        self.created.pop(name, None)
        uid = self.identity.uid
        held = await self.store.held(uid, name)
        if held:
            outcomes = await self.store.outcomes(uid, [(item.task_id, item.attempt) for item in held])
            events: list[EventMaker] = []
            for item in held:
                outcome = outcomes.get((item.task_id, item.attempt))
                if outcome is not None:  # it reported just before its runner went
                    events.append(functools.partial(outcome.event, item.task_id, item.attempt))
                else:
                    message = f"its warm runner {name} ended while it ran: {why}"
                    events.append(_failed(item, TaskFailure.of(WorkerLostError, message), lost=True))
            await host.feed(*events)
        await self.store.forget_runner(uid, name)
        if pool is not None:
            self.scale(host, pool)

    async def runner_cannot_start(
        self, host: WorkflowHost, name: str, pool: str, failure: TaskFailure
    ) -> None:
        """A runner's pod will never start: it goes, and so do the attempts queued for its pool."""
        self.live[pool].discard(name)
        self._warn(
            "RunnerCannotStart",
            f"warm runner {name} cannot start; its pool's queued tasks fail: {failure.message}",
        )
        await self._delete(name)
        await self.fail_queued(host, pool, failure)

    def runner_waiting(self, name: str, message: str) -> None:
        """A runner's pod waits for a node: said once on the Workflow (`kubectl describe`)."""
        if name in self.waiting_said:
            return
        self.waiting_said.add(name)
        self._warn(
            "RunnerPending",
            f"warm runner {name} waits to be scheduled; its pool's tasks wait with it: {message}",
        )

    def _warn(self, reason: str, message: str) -> None:
        """A Warning Event on the Workflow."""
        identity = self.identity
        reference = WORKFLOW.reference(identity.name, identity.namespace, identity.uid)
        self.notify(reference, "Warning", reason, message[:1000])

    # ------------------------------------------------------------ restarts and endings

    async def reconcile(
        self,
        host: WorkflowHost,
        silent: Mapping[tuple[str, int], str],
        jobs: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """After a restart or a lost event: runners whose end was not seen end now, runners
        still running are counted, and each warm attempt in flight without a report is
        queued (if it never was), failed as lost (if no queue or runner has it), or left
        to the runner that has it. `silent`: those attempts, with their pools."""
        uid = self.identity.uid
        for job in jobs.values():
            pool = ((job.get("metadata") or {}).get("labels") or {}).get(RUNNER_POOL_LABEL)
            if pool and not job_ended(job) and not (job.get("metadata") or {}).get("deletionTimestamp"):
                self.live[pool].add(job["metadata"]["name"])
        for name in await self.store.runners(uid):
            found = jobs.get(name)
            # Not in the listing: gone unseen, or created since the listing was read (then it
            # runs, maybe with an attempt in hand: never to be failed as lost).
            recent = time.monotonic() - self.created.get(name, -math.inf) < RECENT_RUNNER_SECONDS
            if name in self.creating or (found is None and recent):
                continue
            if found is None or job_ended(found):
                await self.runner_ended(host, name, "its Job ended while the operator was not looking")
        if not silent or host.closed:
            return
        nodes, pools = host.engine.nodes, silent
        runners = [name for names in self.live.values() for name in names]
        census = await self.store.runner_census(uid, set(pools.values()), runners)
        outcomes = await self.store.outcomes(uid, list(pools))  # after the census: see its docstring
        events: list[EventMaker] = []
        for (task_id, attempt), pool in pools.items():
            field = WorkflowKeys.outcome_field(task_id, attempt)
            outcome = outcomes.get((task_id, attempt))
            if outcome is not None:
                events.append(functools.partial(outcome.event, task_id, attempt))
            elif field not in census.enqueued:
                self.launch(host, Launch(nodes[task_id], attempt))
            elif field not in census.placed:
                message = "its warm runner ended while it ran, unseen by the operator"
                item = RunItem(task_id, attempt, pool)
                events.append(_failed(item, TaskFailure.of(WorkerLostError, message), lost=True))
            else:
                self.outstanding[pool].add((task_id, attempt))
        if events:
            await host.feed(*events)
        for pool in set(pools.values()):
            self.scale(host, pool)

    def close(self) -> asyncio.Task[None] | None:
        """The workflow ended: its runners exit by themselves (they look when idle), and any
        left (a pod still waiting for a node) is deleted after the time a succeeded task's
        pod is kept, so that `kubecanvas logs` reads the runners' logs meanwhile. Returns that
        deletion (the workflow's Redis user must outlive the runners), None if none is left."""
        for task in self.creating.values():
            task.cancel()
        names = [name for names in self.live.values() for name in names]
        self.live.clear()
        return self.spawn(self._delete_later(names)) if names else None

    async def _delete_later(self, names: list[str]) -> None:
        await asyncio.sleep(self.config.succeeded_job_ttl_seconds)
        for name in names:
            await self._delete(name)

    async def _delete(self, name: str) -> None:
        try:
            await self.api.delete_job(self.identity.namespace, name)
        except KubeApiError as error:
            logger.warning("cannot delete warm runner %s: %s", name, error, extra=self.identity.log_fields())


def _failed(item: RunItem, failure: TaskFailure, *, lost: bool = False) -> EventMaker:
    return lambda now: Failed(item.task_id, item.attempt, failure, now, lost=lost)


class RoutedLauncher:
    """The launcher of a workflow's host: each attempt to a Job of its own, or to its pool."""

    def __init__(self, jobs: JobLauncher, pools: RunnerPools) -> None:
        self.jobs = jobs
        self.pools = pools

    def launch(self, host: WorkflowHost, launch: Launch) -> None:
        if not self.pools.launch(host, launch):
            self.jobs.launch(host, launch)

    def kill(self, host: WorkflowHost, kill: Kill) -> None:
        if not self.pools.kill(host, kill):
            self.jobs.kill(host, kill)
