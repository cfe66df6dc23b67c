"""One task attempt as a child process: `python -m kubecanvas_runtime --input --outcome`.

The child runs in its own session (process group), so a Ctrl-C in the terminal
reaches only the runner, which revokes the workflow and stops the children itself,
and so that a task's own subprocesses are stopped with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kubecanvas._kits.jsonvalues import JSON, JSONObject, dumps
from kubecanvas.store.layout import Outcome
from kubecanvas.store.taskside import TaskInputs

__all__ = ["Report", "TaskProcess"]


@dataclass(frozen=True, slots=True)
class Report:
    """What the runtime wrote to its outcome file."""

    outcome: Outcome
    value: JSON
    call: JSONObject


class TaskProcess:
    """Start, wait for, stop and read back one attempt."""

    def __init__(self, workdir: Path, task_id: str, attempt: int) -> None:
        stem = f"{task_id}.{attempt}"
        self.input_path = workdir / f"{stem}.input.json"
        self.outcome_path = workdir / f"{stem}.outcome.json"
        self.log_path = workdir / f"{stem}.log"
        self.stopping = False  # revoked or timed out: its exit is no news
        self._process: asyncio.subprocess.Process | None = None

    async def start(self, inputs: TaskInputs, env: Mapping[str, str]) -> None:
        self.input_path.write_text(dumps(inputs.to_json()), encoding="utf-8")
        with self.log_path.open("wb") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "kubecanvas_runtime",
                "--input",
                str(self.input_path),
                "--outcome",
                str(self.outcome_path),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=dict(env),
                start_new_session=True,
            )

    @property
    def started(self) -> bool:
        return self._process is not None

    async def wait(self, timeout: float | None = None) -> int | None:
        """The exit code (negative: killed by that signal), or None if still running after `timeout`."""
        if self._process is None:
            return None
        try:
            return await asyncio.wait_for(self._process.wait(), timeout)
        except TimeoutError:
            return None

    async def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL if it is still there after `grace` seconds."""
        self.stopping = True
        self._signal(signal.SIGTERM)
        if await self.wait(grace) is None:
            self._signal(signal.SIGKILL)
            await self.wait()

    def kill_now(self) -> None:
        """SIGKILL at once: the runner itself is going away."""
        self.stopping = True
        self._signal(signal.SIGKILL)

    def _signal(self, number: signal.Signals) -> None:
        if self._process is None or self._process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, number)

    def read_report(self) -> Report | str:
        """The runtime's report, or why there is none."""
        try:
            data = json.loads(self.outcome_path.read_text(encoding="utf-8"))
            outcome = Outcome.from_json(data["outcome"])
            args, kwargs = data.get("args"), data.get("kwargs")
            call: JSONObject = {
                "args": args if isinstance(args, list) else [],
                "kwargs": kwargs if isinstance(kwargs, dict) else {},
            }
            return Report(outcome, data.get("value"), call)
        except FileNotFoundError:
            return ""
        except (OSError, ValueError, KeyError, TypeError) as error:
            return f" (its outcome file is unreadable: {error})"

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
