"""The lifecycle of one pod on this node, from binding to deletion.

Volumes, then the init containers in order, then every container at once, each restarted as the
restartPolicy says with a capped back-off; activeDeadlineSeconds; graceful deletion. Each change
is recorded on disk (for recovery) and patched onto the pod's status by a single publisher task,
which coalesces bursts so a pod never waits on its own status updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import cast

import aiohttp

from kubecanvas_nodeagent import state
from kubecanvas_nodeagent.containerlogs import ContainerLog
from kubecanvas_nodeagent.containers import LaunchSpec
from kubecanvas_nodeagent.environment import (
    ContainerConfigError,
    PodFacts,
    ReferencedObjects,
    command_line,
    container_env,
    referenced_objects,
)
from kubecanvas_nodeagent.kubeapi import STRATEGIC_MERGE_PATCH, ApiError, KubeClient
from kubecanvas_nodeagent.kubetypes import ConfigMap, Container, Pod, PodCondition, PodStatus, Secret
from kubecanvas_nodeagent.podstatus import (
    NEVER,
    ON_FAILURE,
    ContainerView,
    PodFailure,
    PodView,
    Terminated,
    Waiting,
    build_status,
    parse_time,
)
from kubecanvas_nodeagent.runner import ContainerRunner
from kubecanvas_nodeagent.state import PodRecord, Session
from kubecanvas_nodeagent.volumes import PodVolumes, VolumeError

log = logging.getLogger(__name__)

BACKOFF_BASE = 1.0
BACKOFF_CAP = 20.0
"""CrashLoopBackOff doubles from BACKOFF_BASE up to this; much shorter than the kubelet's 5 minutes."""
BACKOFF_RESET = 60.0
"""A run that lasted this long resets the back-off."""
CONFIG_RETRY_CAP = 10.0
SHUTDOWN_GRACE = 2.0
"""When the agent itself stops, containers get at most this long to exit after SIGTERM."""
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


class LogNotFound(LookupError):
    """No log for that container (yet): the message is what the kubelet would answer."""


@dataclass(frozen=True)
class NodeContext:
    """What every pod worker shares: the API client and the node's facts."""

    client: KubeClient
    node_name: str
    host_ip: str
    pods_dir: Path
    base_env: Mapping[str, str]
    service_env: Mapping[str, str]
    allocatable: Mapping[str, Decimal]
    isolate: bool


def _initial_views(containers: list[Container], reason: str) -> list[ContainerView]:
    return [ContainerView(c.get("name", ""), c.get("image", ""), Waiting(reason)) for c in containers]


class PodWorker:
    """Runs one pod; `update()` feeds it the latest object, `gone()` says the object was deleted."""

    def __init__(
        self,
        ctx: NodeContext,
        pod: Pod,
        record: PodRecord | None,
        on_finished: Callable[[], None],
        on_forgotten: Callable[[PodWorker], None],
    ) -> None:
        meta = pod.get("metadata", {})
        spec = pod.get("spec", {})
        self.ctx = ctx
        self.pod = pod
        self.uid = meta.get("uid", "")
        self.namespace = meta.get("namespace", "")
        self.name = meta.get("name", "")
        self.label = f"pod {self.namespace}/{self.name}"
        self.dir = ctx.pods_dir / self.uid
        self._on_finished = on_finished
        self._on_forgotten = on_forgotten
        self._policy = spec.get("restartPolicy", "Always")
        self._grace = float(spec.get("terminationGracePeriodSeconds", 30))
        self._facts = PodFacts(ctx.host_ip, ctx.host_ip, ctx.allocatable)
        self._volumes = PodVolumes(ctx.client, pod, self.dir / "volumes", self._facts)
        init_specs = spec.get("initContainers", [])
        main_specs = spec.get("containers", [])
        if record is not None:
            init_views, main_views = record.init_containers, record.containers
        else:
            init_views = _initial_views(init_specs, "PodInitializing")
            main_views = _initial_views(main_specs, "PodInitializing" if init_specs else "ContainerCreating")
        start = pod.get("status", {}).get("startTime")
        self.view = PodView(
            restart_policy=self._policy,
            init_containers=init_views,
            containers=main_views,
            host_ip=ctx.host_ip,
            start_time=(record.start_time if record else None) or (parse_time(start) if start else None),
            message=""
            if ctx.isolate
            else "mount namespaces are unavailable to the node agent: volumes are not mounted",
        )
        logs = self.dir / "logs"

        def runner(container: Container, view: ContainerView) -> ContainerRunner:
            return ContainerRunner(
                container,
                view=view,
                log_dir=logs,
                pod_label=self.label,
                pod_ip=ctx.host_ip,
                grace=self._grace,
                changed=self._changed,
            )

        self._init_runners = [runner(c, v) for c, v in zip(init_specs, init_views, strict=True)]
        self._runners = [runner(c, v) for c, v in zip(main_specs, main_views, strict=True)]
        self._stop = asyncio.Event()
        self._dirty = asyncio.Event()
        self._idle = asyncio.Event()
        self._detached = False
        self._conditions: list[PodCondition] = list(pod.get("status", {}).get("conditions", []))
        self._sent: PodStatus | None = None
        self._lifecycle: asyncio.Task[None] | None = None
        self._background: list[asyncio.Task[None]] = []
        """Loops that end with the pod: the status publisher and the deadline timer."""
        self._deletion: asyncio.Task[None] | None = None
        self._forgetting: asyncio.Task[None] | None = None
        self.finished = pod.get("status", {}).get("phase") in ("Succeeded", "Failed")
        """The pod will not run again: it no longer counts against the node's capacity."""

    # --- driven by the pod manager ---------------------------------------------------------

    def start(self) -> None:
        self._background.append(asyncio.create_task(self._publish_loop()))
        if not self.finished:
            self._lifecycle = asyncio.create_task(self._run())
        self.update(self.pod)

    def update(self, pod: Pod) -> None:
        self.pod = pod
        if pod.get("metadata", {}).get("deletionTimestamp") and self._deletion is None:
            self._deletion = asyncio.create_task(self._delete())

    def gone(self) -> None:
        """The pod object no longer exists: stop everything and forget the pod."""
        self._forgetting = asyncio.create_task(self._forget())

    async def shutdown(self) -> None:
        """The agent is exiting: stop the processes but leave the record as it was, for recovery."""
        self._detached = True
        await self._stop_containers(min(self._grace, SHUTDOWN_GRACE))
        await self._settle()
        for task in self._background:
            task.cancel()

    def runners(self) -> list[ContainerRunner]:
        return [*self._init_runners, *self._runners]

    # --- lifecycle -------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            if self.view.start_time is None:
                self.view.start_time = datetime.now(UTC)
            self._changed()
            deadline = self.pod.get("spec", {}).get("activeDeadlineSeconds")
            if deadline is not None:
                self._background.append(asyncio.create_task(self._enforce_deadline(float(deadline))))
            if not await self._prepare_volumes():
                return
            self.view.sandbox_ready = True
            self._changed()
            for runner in self._init_runners:
                if not await self._supervise(runner, init=True):
                    return
            await asyncio.gather(*(self._supervise(runner, init=False) for runner in self._runners))
        finally:
            self.view.terminal = True
            self.finished = True
            if not self._detached:
                log.info(
                    "%s: finished, phase %s",
                    self.label,
                    build_status(self.view, [], datetime.now(UTC))["phase"],
                )
                self._changed()
                self._on_finished()

    async def _stopped_within(self, seconds: float) -> bool:
        """Sleep, but wake as soon as the pod is being stopped; True if it is."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=max(seconds, 0))
        return self._stop.is_set()

    async def _prepare_volumes(self) -> bool:
        delay = 1.0
        while not self._stop.is_set():
            try:
                await self._volumes.prepare()
                return True
            except (VolumeError, ApiError, aiohttp.ClientError, OSError) as error:
                log.warning("%s: setting up volumes failed: %s", self.label, error)
                for runner in self.runners():
                    runner.view.state = Waiting("ContainerCreating", f"MountVolume.SetUp failed: {error}")
                self._changed()
            if await self._stopped_within(delay):
                break
            delay = min(delay * 2, CONFIG_RETRY_CAP)
        return False

    def _restarts(self, exit_code: int, init: bool) -> bool:
        if self._policy == NEVER:
            return False
        if init or self._policy == ON_FAILURE:
            return exit_code != 0
        return True

    async def _supervise(self, runner: ContainerRunner, *, init: bool) -> bool:
        """Run a container until the restart policy says it is done; True if it ended successfully."""
        failures = 0
        while not self._stop.is_set():
            ended = runner.view.state
            if isinstance(ended, Terminated):
                if init and ended.exit_code == 0:
                    return True
                if not self._restarts(ended.exit_code, init):
                    return ended.exit_code == 0
                lasted = (ended.finished_at - ended.started_at).total_seconds() if ended.started_at else 0
                failures = 1 if lasted >= BACKOFF_RESET else failures + 1
                delay = min(BACKOFF_BASE * 2 ** (failures - 1), BACKOFF_CAP)
                runner.view.last_state = ended
                runner.view.restart_count += 1
                runner.view.state = Waiting(
                    "CrashLoopBackOff",
                    f"back-off {delay:g}s restarting failed container={runner.name} "
                    f"pod={self.name}_{self.namespace}({self.uid})",
                )
                self._changed()
                if await self._stopped_within(delay):
                    break
            launch = await self._launch_spec(runner)
            if launch is None:
                break
            await runner.run(launch)
        return False

    async def _launch_spec(self, runner: ContainerRunner) -> LaunchSpec | None:
        """Resolve what to run; report and retry configuration errors until stopped."""
        container = runner.spec
        if not container.get("command"):
            runner.view.state = Waiting(
                "CreateContainerError",
                f"container {runner.name!r} has no command: the node agent runs command and args as a local "
                "process and cannot use the entrypoint of an image it does not pull",
            )
            self._changed()
            await self._stop.wait()
            return None
        delay = 1.0
        while not self._stop.is_set():
            try:
                pod_env = await self._environment(container)
                mounts = self._volumes.mounts(container) if self.ctx.isolate else []
                # A container's /tmp goes with its pod: each gets a private TMPDIR in the
                # pod's directory, removed with it, so temporary files never pile up on the host.
                tmp = self.dir / "tmp" / runner.name
                tmp.mkdir(parents=True, exist_ok=True)
                return LaunchSpec(
                    argv=command_line(container, pod_env),
                    env={**self.ctx.base_env, "HOSTNAME": self.name, "TMPDIR": str(tmp), **pod_env},
                    working_dir=container.get("workingDir") or None,
                    mounts=mounts,
                    isolate=self.ctx.isolate,
                )
            except (ContainerConfigError, VolumeError, ApiError, aiohttp.ClientError) as error:
                message = error.message if isinstance(error, ApiError) else str(error)
                log.info("%s: container %s: %s", self.label, runner.name, message)
                runner.view.state = Waiting("CreateContainerConfigError", message)
                self._changed()
            if await self._stopped_within(delay):
                break
            delay = min(delay * 2, CONFIG_RETRY_CAP)
        return None

    async def _environment(self, container: Container) -> dict[str, str]:
        configmap_names, secret_names = referenced_objects([container])

        async def fetch(kind: str, name: str) -> tuple[str, ConfigMap | Secret | None]:
            try:
                found = await self.ctx.client.get(f"/api/v1/namespaces/{self.namespace}/{kind}/{name}")
                return name, cast(ConfigMap, found)
            except ApiError as error:
                if error.status == 404:
                    return name, None
                raise

        configmaps = await asyncio.gather(*(fetch("configmaps", n) for n in configmap_names))
        secrets = await asyncio.gather(*(fetch("secrets", n) for n in secret_names))
        objects = ReferencedObjects(
            configmaps={n: cast(ConfigMap | None, o) for n, o in configmaps},
            secrets={n: o for n, o in secrets},
        )
        return container_env(self.pod, container, self._facts, objects, self.ctx.service_env)

    async def _enforce_deadline(self, seconds: float) -> None:
        started = self.view.start_time or datetime.now(UTC)
        remaining = seconds - (datetime.now(UTC) - started).total_seconds()
        if await self._stopped_within(remaining):
            return
        log.info("%s: active deadline of %gs exceeded", self.label, seconds)
        self.view.failure = PodFailure("DeadlineExceeded", DEADLINE_MESSAGE)
        await self._stop_containers(self._grace, reason="DeadlineExceeded", message=DEADLINE_MESSAGE)

    async def _stop_containers(self, grace: float, reason: str | None = None, message: str = "") -> None:
        self._stop.set()
        await asyncio.gather(
            *(r.kill(grace, final=True, reason=reason, message=message) for r in self.runners())
        )

    async def _settle(self) -> None:
        """Wait for the lifecycle to end and release the volumes (token refreshers)."""
        if self._lifecycle is not None:
            await self._lifecycle
        await self._volumes.close()

    async def _delete(self) -> None:
        meta = self.pod.get("metadata", {})
        grace = float(meta.get("deletionGracePeriodSeconds", self._grace))
        log.info("%s: deleting (grace period %gs)", self.label, grace)
        await self._stop_containers(grace)
        await self._settle()
        await self._flush()
        try:
            await self.ctx.client.delete(
                f"/api/v1/namespaces/{self.namespace}/pods/{self.name}",
                {"gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}},
            )
        except ApiError as error:
            if error.status not in (404, 409):
                log.warning("%s: delete failed: %s", self.label, error)
                return
        log.info("%s: deleted", self.label)

    async def _forget(self) -> None:
        self._detached = True
        await self._stop_containers(min(self._grace, SHUTDOWN_GRACE))
        await self._settle()
        for task in self._background:
            task.cancel()
        shutil.rmtree(self.dir, ignore_errors=True)
        self._on_forgotten(self)

    # --- status ----------------------------------------------------------------------------

    def _changed(self) -> None:
        """Record the new state on disk and wake the status publisher."""
        if self._detached:
            return
        record = PodRecord(
            uid=self.uid,
            namespace=self.namespace,
            name=self.name,
            start_time=self.view.start_time,
            init_containers=self.view.init_containers,
            containers=self.view.containers,
            sessions={
                r.name: Session(r.process.pid, r.process.start_ticks)
                for r in self.runners()
                if r.process is not None
            },
        )
        try:
            state.save(self.dir, record)
        except OSError as error:
            log.warning("%s: cannot record state: %s", self.label, error)
        self._idle.clear()
        self._dirty.set()

    async def _flush(self, timeout: float = 10) -> None:
        """Wait until the latest status has been patched (or give up after `timeout`)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    async def _publish_loop(self) -> None:
        failures = 0
        path = f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/status"
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if self._detached:
                continue
            status = build_status(self.view, self._conditions, datetime.now(UTC))
            if status != self._sent:
                try:
                    await self.ctx.client.patch(
                        path, {"metadata": {"uid": self.uid}, "status": status}, STRATEGIC_MERGE_PATCH
                    )
                except ApiError as error:
                    if error.status in (404, 409):  # gone, or replaced by a pod of the same name
                        self._idle.set()
                        return
                    log.warning("%s: status update failed: %s", self.label, error)
                    failures += 1
                except aiohttp.ClientError as error:
                    log.warning("%s: status update failed: %s", self.label, error)
                    failures += 1
                else:
                    failures = 0
                    self._sent = status
                    self._conditions = status.get("conditions", [])
                if failures:
                    self._dirty.set()
                    await asyncio.sleep(min(0.1 * 2**failures, 5.0))
                    continue
            if not self._dirty.is_set():
                self._idle.set()

    # --- logs ------------------------------------------------------------------------------

    def container_log(self, container: str, *, previous: bool) -> ContainerLog:
        """The log of the container's latest run, or of the run before it with `previous`."""
        runner = next((r for r in self.runners() if r.name == container), None)
        if runner is None:
            raise LogNotFound(f"container {container} is not valid for pod {self.name}")
        runs = sorted(int(p.stem) for p in runner.log_path(0).parent.glob("*.log") if p.stem.isdigit())
        if previous:
            if len(runs) < 2:
                raise LogNotFound(
                    f'previous terminated container "{container}" in pod "{self.name}" not found'
                )
            return ContainerLog(runner.log_path(runs[-2]), finished=True)
        live = runner.current_log()
        if live is not None:
            return live
        if not runs:
            waiting = runner.view.state
            reason = waiting.reason if isinstance(waiting, Waiting) else "ContainerCreating"
            raise LogNotFound(f'container "{container}" in pod "{self.name}" is waiting to start: {reason}')
        return ContainerLog(runner.log_path(runs[-1]), finished=True)
