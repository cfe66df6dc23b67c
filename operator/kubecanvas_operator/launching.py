"""The operator's launcher: a task attempt is a Kubernetes Job.

The host calls `launch` and `kill` under the workflow's lock and they return at once:
Jobs are created and deleted in the background, so that a 500-task fan-out does not hold
up every other event. The step that decided a launch is persisted first, so a Job an
operator killed meanwhile never made is created by the next reconcile (same deterministic
name: a 409 is "done").

A creation the API server could not take (unreachable, throttled, 5xx) is tried again,
with backoff, until it lands or the workflow ends — an outage of any length delays a task,
it never fails or strands it. A creation the API server refused (403, 422, ...) fails the
attempt with the API's reason, and its retry policy decides what comes next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from kubecanvas.engine.effects import Kill, Launch
from kubecanvas.engine.events import Failed
from kubecanvas.engine.states import TaskFailure
from kubecanvas.errors import JobCreationError, KubeApiError
from kubecanvas.hosting import WorkflowHost
from kubecanvas.resources import job_name
from kubecanvas_operator.clients import JobClient, Provisioner
from kubecanvas_operator.config import OperatorConfig
from kubecanvas_operator.jobs import WorkflowIdentity, build_job

__all__ = ["JobLauncher"]

logger = logging.getLogger(__name__)


def api_backoff(tries: int) -> float:
    """Seconds before try `tries + 1` of a call the API server could not take: 0.2 s,
    growing threefold, at most 30 s."""
    return float(min(30.0, 0.2 * 3**tries))


class JobLauncher:
    """Creates and deletes the Jobs of one workflow's attempts."""

    def __init__(
        self,
        identity: WorkflowIdentity,
        api: JobClient,
        provisioner: Provisioner,
        config: OperatorConfig,
        spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
        *,
        backoff: Callable[[int], float] = api_backoff,
    ) -> None:
        self.identity = identity
        self.backoff = backoff
        self.api = api
        self.provisioner = provisioner
        self.config = config
        self.spawn = spawn
        # Jobs being created, by (task id, attempt): a kill waits for its Job to exist.
        self.launching: dict[tuple[str, int], asyncio.Task[None]] = {}

    def launch(self, host: WorkflowHost, launch: Launch) -> None:
        key = (launch.node.id, launch.attempt)
        task = self.spawn(self.create(host, launch))
        self.launching[key] = task
        task.add_done_callback(lambda _: self.launching.pop(key, None))

    def kill(self, host: WorkflowHost, kill: Kill) -> None:
        self.spawn(self._kill(kill))

    def cancel(self) -> None:
        """The Workflow was deleted: a Job created anyway goes with its owner (garbage collector)."""
        for launching in self.launching.values():
            launching.cancel()

    async def create(self, host: WorkflowHost, launch: Launch) -> None:
        """Create the attempt's Job; one the API refuses fails the attempt (retried per its policy)."""
        node, attempt = launch.node, launch.attempt
        record = host.engine.records[node.id]
        tries = 0
        try:
            while True:
                try:
                    await self.provisioner.prepare(self.identity.namespace)
                    redis = await self.provisioner.credentials(
                        self.identity.namespace, self.identity.name, self.identity.uid
                    )
                    manifest = build_job(
                        self.identity, node, attempt, self.config, expires_at=record.expires_at, redis=redis
                    )
                    await self.api.create_job(manifest)
                    return
                except KubeApiError as error:
                    if not error.transient:
                        raise
                    if host.closed:
                        return  # the workflow ended meanwhile: nothing to create
                    if tries == 3:  # a blip is retried quietly; an outage is said once
                        logger.warning(
                            "workflow %s task %s: the API server cannot take the Job yet (%s); "
                            "retrying until it can",
                            self.identity.qualified,
                            node.id,
                            error,
                            extra=self.identity.log_fields(node.id, attempt),
                        )
                    await asyncio.sleep(self.backoff(tries))
                    tries += 1
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - refused, or a manifest the client rejects: the task's failure
            reason = str(error) if isinstance(error, KubeApiError) else f"{type(error).__name__}: {error}"
            failure = TaskFailure.of(JobCreationError, f"cannot create the task's Job: {reason}")
            logger.warning(
                "workflow %s task %s: %s",
                self.identity.qualified,
                node.id,
                failure.message,
                extra=self.identity.log_fields(node.id, attempt),
            )
            self.spawn(host.feed(lambda now: Failed(node.id, attempt, failure, now)))

    async def _kill(self, kill: Kill) -> None:
        launching = self.launching.get((kill.task_id, kill.attempt))
        if launching is not None:  # its Job is being created: delete it once it exists
            await asyncio.wait([launching])
        await self.delete(kill.task_id, kill.attempt)

    async def delete(self, task_id: str, attempt: int) -> None:
        try:
            await self.api.delete_job(self.identity.namespace, job_name(self.identity.name, task_id, attempt))
        except KubeApiError as error:
            logger.warning(
                "cannot delete the Job of %s attempt %s: %s",
                task_id,
                attempt,
                error,
                extra=self.identity.log_fields(task_id, attempt),
            )
