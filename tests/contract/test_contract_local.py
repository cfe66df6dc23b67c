"""Every public case of the contract through the local runner: real child processes
running the real task runtime, as `kubecanvas run` does."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from contract.cases import CASES, EXAMPLES, Case, Observed, verify
from kubecanvas.local import LocalRunner, load_workflow_file


def _children_running_the_runtime() -> list[int]:
    """Processes of ours still running `kubecanvas_runtime` (a revoke must leave none)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"kubecanvas_runtime" in command and parent == os.getpid():
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_contract_case_runs_locally(case: Case) -> None:
    runner = LocalRunner(load_workflow_file(case.path), code_dir=EXAMPLES, kill_grace=2.0)

    async def run() -> dict:
        if case.revoke_after is not None:
            asyncio.get_running_loop().call_later(case.revoke_after, runner.revoke)
        return dict(await runner.run())

    began = time.monotonic()
    document = asyncio.run(run())
    verify(case, Observed(document, runner.engine.started_at))
    if case.revoke_after is not None:
        # sleep(30) was stopped at the revoke, not waited for.
        assert time.monotonic() - began < 20
        assert _children_running_the_runtime() == []
