"""One container of a pod across its runs: its status, its current process, its logs and probes.

The pod worker decides *whether* a container (re)starts; the runner does one run at a time and
keeps the ContainerView that the pod's status is built from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from kubecanvas_nodeagent.containerlogs import ContainerLog
from kubecanvas_nodeagent.containers import ContainerProcess, LaunchSpec, StartError, exec_in
from kubecanvas_nodeagent.kubetypes import Container, Probe
from kubecanvas_nodeagent.podstatus import ContainerView, Running, Terminated
from kubecanvas_nodeagent.probes import ProbeError, ProbeSpec, parse_probe, probe_loop

log = logging.getLogger(__name__)

START_ERROR_EXIT_CODE = 128  # what CRI runtimes report when exec fails


class ContainerRunner:
    """Runs one container, once per `run()` call, and keeps its ContainerView current."""

    def __init__(
        self,
        spec: Container,
        *,
        view: ContainerView,
        log_dir: Path,
        pod_label: str,
        pod_ip: str,
        grace: float,
        changed: Callable[[], None],
    ) -> None:
        self.spec = spec
        self.view = view
        self._log_dir = log_dir / view.name
        self._pod_label = pod_label
        self._pod_ip = pod_ip
        self._grace = grace
        self._changed = changed
        self.process: ContainerProcess | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self._kill_reason: str | None = None
        self._kill_message = ""
        self._probes: list[asyncio.Task[None]] = []
        self._probe_kill: asyncio.Task[object] | None = None
        self._env: dict[str, str] = {}

    @property
    def name(self) -> str:
        return self.view.name

    def log_path(self, run: int) -> Path:
        return self._log_dir / f"{run}.log"

    def current_log(self) -> ContainerLog | None:
        return self.process.log if self.process else None

    async def run(self, launch: LaunchSpec) -> Terminated | None:
        """Start the container and wait for it to end; None if the runner was closed meanwhile."""
        async with self._lock:
            if self._closed:
                return None
            self._kill_reason, self._kill_message = None, ""
            log_file = ContainerLog(self.log_path(self.view.restart_count))
            try:
                process = await ContainerProcess.start(launch, log_file)
            except StartError as error:
                now = datetime.now(UTC)
                log.info("%s: container %s failed to start: %s", self._pod_label, self.name, error)
                self.view.state = Terminated(START_ERROR_EXIT_CODE, "StartError", now, now, str(error))
                self._changed()
                return self.view.state
            self.process = process
            self._env = launch.env
            self.view.container_id = process.container_id
            self.view.state = Running(process.started_at)
            self.view.started = "startupProbe" not in self.spec
            self.view.ready = self.view.started and "readinessProbe" not in self.spec
            log.info("%s: container %s started, pid %d", self._pod_label, self.name, process.pid)
            self._start_probes()
            self._changed()
        exit_status = await process.wait()
        await self._stop_probes()
        reason = self._kill_reason or ("Completed" if exit_status.code == 0 else "Error")
        self.view.state = Terminated(
            exit_code=exit_status.code,
            reason=reason,
            finished_at=datetime.now(UTC),
            started_at=process.started_at,
            message=self._kill_message,
            signal=exit_status.signal,
            container_id=process.container_id,
        )
        self.view.ready = False
        self.view.started = False
        self.process = None
        log.info("%s: container %s exited, code %d", self._pod_label, self.name, exit_status.code)
        self._changed()
        return self.view.state

    async def kill(self, grace: float, *, final: bool, reason: str | None = None, message: str = "") -> None:
        """Stop the current run; with `final`, no further run may start."""
        async with self._lock:  # an in-flight start completes first, so nothing escapes
            if final:
                self._closed = True
            process = self.process
            if process is not None and reason:
                self._kill_reason, self._kill_message = reason, message
        if process is not None:
            await process.stop(grace)

    # --- probes ----------------------------------------------------------------------------

    def _probe(self, kind: str, raw: Probe | None) -> ProbeSpec | None:
        if not raw:
            return None
        try:
            return parse_probe(raw, self.spec, self._pod_ip)
        except ProbeError as error:
            log.warning("%s: container %s: ignoring %s: %s", self._pod_label, self.name, kind, error)
            return None

    async def _exec(self, command: tuple[str, ...], timeout: float) -> tuple[bool, str]:
        process = self.process
        if process is None:
            return False, "container is not running"
        return await exec_in(process.pid, command, self._env, timeout)

    def _start_probes(self) -> None:
        startup = self._probe("startupProbe", self.spec.get("startupProbe"))
        if startup is None:
            self.view.started = True
            self._start_steady_probes()
            return
        self.view.started = False
        self._probes.append(asyncio.create_task(probe_loop(startup, None, self._exec, self._on_startup)))

    def _start_steady_probes(self) -> None:
        readiness = self._probe("readinessProbe", self.spec.get("readinessProbe"))
        if readiness is None:
            self.view.ready = True
        else:
            self._probes.append(
                asyncio.create_task(probe_loop(readiness, False, self._exec, self._on_readiness))
            )
        if liveness := self._probe("livenessProbe", self.spec.get("livenessProbe")):
            self._probes.append(
                asyncio.create_task(probe_loop(liveness, True, self._exec, self._on_liveness))
            )

    def _on_startup(self, ok: bool, detail: str) -> None:
        if ok:
            self.view.started = True
            self._start_steady_probes()
            self._changed()
        else:
            self._fail_probe("Startup", detail)

    def _on_readiness(self, ok: bool, detail: str) -> None:
        if not ok:
            log.info("%s: container %s readiness probe failed: %s", self._pod_label, self.name, detail)
        self.view.ready = ok
        self._changed()

    def _on_liveness(self, ok: bool, detail: str) -> None:
        if not ok:
            self._fail_probe("Liveness", detail)

    def _fail_probe(self, kind: str, detail: str) -> None:
        log.info(
            "%s: container %s %s probe failed, restarting: %s",
            self._pod_label,
            self.name,
            kind.lower(),
            detail,
        )
        process = self.process
        if process is not None:
            self._kill_message = f"{kind} probe failed: {detail}"
            self._probe_kill = asyncio.create_task(process.stop(self._grace))

    async def _stop_probes(self) -> None:
        probes, self._probes = self._probes, []
        for task in probes:
            task.cancel()
        for task in probes:
            with contextlib.suppress(asyncio.CancelledError):
                await task
