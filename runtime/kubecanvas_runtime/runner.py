"""`kubecanvas-runtime --runner`: a warm runner, one pod that runs a pool's attempts in turn.

The operator (operator/runners.py) starts runners for tasks with `runner: warm` and
queues their attempts in Redis; a runner takes one (store/runnerside.py), forks, and the
child runs it exactly as a task pod would (`run_settings`), reporting to Redis itself. So
the next task starts in milliseconds, not a pod start, and still in a fresh process: a
task cannot see the memory of the one before it (the parent never runs a task; it only
imports the workflow's code, once, so every child starts warm).

The parent watches its child:

- past the task's `timeout` (plus a grace: the task's own SIGALRM comes first), it kills
  it and reports TimeLimitExceeded, as a Job's deadline would;
- a kill the operator asks for (revoke with terminate, the workflow's end) kills it at
  the next look (every `KILL_POLL_SECONDS`);
- a child that died without reporting (a signal, the OOM killer) is reported failed.

It exits (0) after `idle_seconds` without work (the pool scales to zero), once its
workflow has ended, and on SIGTERM once its current attempt is done. If the runner itself
dies, what it held stays in its hands in Redis, where the operator finds it and fails it
as lost: retried per its policy, never run twice.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
import traceback
from dataclasses import replace
from types import FrameType

from kubecanvas.engine.states import TaskFailure
from kubecanvas.errors import (
    ConfigurationError,
    StoreConnectionError,
    StoreError,
    TimeLimitExceeded,
    WorkerLostError,
)
from kubecanvas.execution.attempt import describe_exception
from kubecanvas.execution.environment import ATTEMPT, TASK_ID, RunnerSettings
from kubecanvas.execution.exit_codes import (
    EXIT_CODES,
    EXIT_RUNTIME_ERROR,
    EXIT_STORE_UNREACHABLE,
    exit_meaning,
)
from kubecanvas.execution.logmarks import begin_mark, end_mark
from kubecanvas.store.layout import Outcome, RunItem
from kubecanvas.store.runnerside import RunnerQueue
from kubecanvas.store.taskside import TaskStore, connect
from kubecanvas_runtime.__main__ import give_up, log, run_settings, safe_url

__all__ = ["serve"]

KILL_POLL_SECONDS = 0.5  # how often a running attempt's kill mark is looked for


class Runner:
    def __init__(self, settings: RunnerSettings) -> None:
        self.settings = settings
        task = settings.task
        client = connect(task.redis_url, task.redis_password, username=task.redis_username, ca=task.redis_ca)
        self.queue = RunnerQueue(client, task.workflow_uid, settings.pool, settings.name)
        self.reports = TaskStore(client, task.workflow_uid, task.events_stream)
        self.code_error: Exception | None = None
        self.warmed: set[str] = set()
        self.stopping = False

    def serve(self) -> int:
        from kubecanvas.errors import CodeSourceError
        from kubecanvas_runtime.codesource import install_code

        signal.signal(signal.SIGTERM, self._stop)
        task = self.settings.task
        try:
            install_code(task.code, task.namespace)
        except CodeSourceError as error:  # every attempt fails with it, as each pod's would
            self.code_error = error
            log(f"runner {self.settings.name}: {error}")
        self._warm(None)
        log(f"runner {self.settings.name} of pool {self.settings.pool} ready")
        try:
            return self._loop()
        except StoreConnectionError as error:  # what it held stays in Redis: the operator fails it as lost
            where = safe_url(task.redis_url)
            return give_up(
                f"runner {self.settings.name}: Redis at {where} is unreachable: {error}",
                EXIT_STORE_UNREACHABLE,
            )
        except StoreError as error:  # refused (its Redis user removed: its workflow is over)
            where = safe_url(task.redis_url)
            return give_up(
                f"runner {self.settings.name}: Redis at {where} refused a command: {error}",
                EXIT_RUNTIME_ERROR,
            )

    def _loop(self) -> int:
        idle = self.settings.idle_seconds
        idle_since = time.monotonic()
        while not self.stopping:  # SIGTERM is seen between two waits (BLOCK_SECONDS at most)
            item = self.queue.take(idle_since + idle - time.monotonic())
            if item is not None:
                self.run(item)
                self.queue.done(item)
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= idle:
                log(f"runner {self.settings.name}: no work for {idle:g}s; exiting")
                break
            elif self.queue.workflow_over():
                log(f"runner {self.settings.name}: its workflow has ended; exiting")
                break
        return 0

    def run(self, item: RunItem) -> None:
        label = f"task {item.task_id} attempt {item.attempt}"
        why_not, task_name = self.queue.look(item)
        if why_not is not None:
            log(f"{label}: not run: {why_not}")
            return
        if self.code_error is not None:
            self._report(item, describe_exception(self.code_error))
            return
        self._warm(task_name)
        started = time.monotonic()
        print(begin_mark(item.task_id, item.attempt), file=sys.stderr, flush=True)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = EXIT_RUNTIME_ERROR
            try:
                code = self._child(item)
            except BaseException:  # noqa: BLE001 - whatever it was, the parent reports the attempt
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        killed = self._supervise(pid, item, started)
        _, status = os.waitpid(pid, 0)
        try:
            self._after(item, killed, status)
        finally:
            print(end_mark(item.task_id, item.attempt), file=sys.stderr, flush=True)

    def _after(self, item: RunItem, killed: str | None, status: int) -> None:
        """Report what the child could not: killed past its limit, or dead of a signal."""
        label = f"task {item.task_id} attempt {item.attempt}"
        if killed == "timeout":
            limit = f"TimeLimitExceeded({item.timeout:g})"
            self._report(item, TaskFailure.of(TimeLimitExceeded, f"{limit}: killed by its runner"))
        elif killed is None and os.WIFSIGNALED(status):
            died = signal.Signals(os.WTERMSIG(status)).name
            self._report(item, TaskFailure.of(WorkerLostError, f"the task's process died of {died}"))
        elif killed is None and os.WEXITSTATUS(status) not in EXIT_CODES.values():
            # It ended without a report (Redis unreachable, its inputs gone): said here, so the
            # attempt does not wait for the operator's reconcile to find it lost.
            code = os.WEXITSTATUS(status)
            why = exit_meaning(code) or f"the task's process exited with code {code} without reporting"
            self._report(item, TaskFailure.of(WorkerLostError, why))
        elif killed is not None:
            log(f"{label}: killed ({killed})")

    def _child(self, item: RunItem) -> int:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.environ[TASK_ID], os.environ[ATTEMPT] = item.task_id, str(item.attempt)
        settings = replace(
            self.settings.task, task_id=item.task_id, attempt=item.attempt, expires_at=item.expires_at
        )
        return run_settings(settings, code_installed=True)  # its own connection to Redis

    def _supervise(self, pid: int, item: RunItem, started: float) -> str | None:
        """Wait for the child; kill it past its hard limit or when the operator says so.
        Returns why it was killed ("timeout", the operator's reason), None if it ended."""
        hard = item.timeout + self.settings.grace_seconds if item.timeout is not None else None
        exited = os.pidfd_open(pid)
        try:
            while True:
                wait = KILL_POLL_SECONDS
                if hard is not None:
                    wait = max(0.0, min(wait, started + hard - time.monotonic()))
                ready, _, _ = select.select([exited], [], [], wait)
                if ready:
                    return None
                reason = "timeout" if hard is not None and time.monotonic() >= started + hard else None
                reason = reason or self.queue.killed(item)
                if reason is not None:
                    os.kill(pid, signal.SIGKILL)
                    return reason
        finally:
            os.close(exited)

    def _report(self, item: RunItem, failure: TaskFailure) -> None:
        """An attempt that ended without a report of its own (kept if it did report)."""
        log(f"task {item.task_id} attempt {item.attempt}: {failure.describe()}")
        outcome = Outcome("failed", error=failure, finished_at=time.time())
        self.reports.record_outcome(item.task_id, item.attempt, outcome)

    def _warm(self, task: str | None) -> None:
        """Import the workflow's `spec.imports`, then each task's module the first time it
        comes, in the parent: every child after starts with them imported. A failure is
        left to the child, which reports it as the task's."""
        from kubecanvas.execution.task_import import import_modules, resolve_task

        key = task or ""
        if key in self.warmed or self.code_error is not None:
            return
        self.warmed.add(key)
        try:
            if task is None:
                import_modules(self.settings.task.imports)
            else:
                resolve_task(task, self.settings.task.imports)
        except Exception:  # noqa: BLE001,S110 - the child reports the same failure, as the task's
            pass

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM (the pod deleted, the node drained): finish the attempt in hand, take no more."""
        self.stopping = True


def serve() -> int:
    try:
        settings = RunnerSettings.from_environ()
    except ConfigurationError as error:
        return give_up(f"cannot start the runner: {error}", EXIT_RUNTIME_ERROR)
    return Runner(settings).serve()
