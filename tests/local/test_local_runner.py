"""The local runner's own promises, beyond the contract cases: how it launches,
limits, times out, kills, retries lost processes and reports."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from kubecanvas.engine import Phase
from kubecanvas.local import LocalRunner
from local.helpers import EXAMPLES, run, sig, workflow


def _overlap(intervals: list[list[float]]) -> int:
    """The most intervals running at one moment."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def test_tasks_see_their_identity_and_env_option() -> None:
    flow = workflow(
        {
            "group": [
                sig("whoami"),
                sig("getenv", "GREETING", options={"env": [{"name": "GREETING", "value": "hello"}]}),
            ]
        },
        name="identity",
    )
    document, _ = run(flow)
    assert document["result"] == [["t0", "1", "identity"], "hello"]


@pytest.mark.parametrize(("concurrency", "parallelism", "peak"), [(2, 50, 2), (8, 1, 1)])
def test_at_most_min_of_concurrency_and_parallelism_run_at_once(
    concurrency: int, parallelism: int, peak: int
) -> None:
    flow = workflow({"group": [sig("napping", 0.6) for _ in range(4)]}, parallelism=parallelism)
    document, runner = run(flow, concurrency=concurrency)
    assert document["phase"] == "Succeeded"
    assert runner.engine.parallelism == peak
    assert _overlap(document["result"]) == peak


def test_a_process_that_exits_without_reporting_is_lost() -> None:
    document, _ = run(workflow(sig("exit_with", 3)))
    assert document["phase"] == "Failed"
    assert document["error"]["type"] == "WorkerLostError"
    assert "exited with code 3" in document["error"]["message"]
    (task,) = document["tasks"]
    assert task["args"] == [3], "the call is known even though the process never reported it"


def test_a_process_killed_by_a_signal_is_lost_and_names_the_signal() -> None:
    document, _ = run(workflow(sig("kill_self")))
    assert document["error"]["type"] == "WorkerLostError"
    assert "SIGKILL" in document["error"]["message"]


def test_a_lost_process_is_retried_when_retries_are_set() -> None:
    flow = workflow(sig("die_on_first_attempt", options={"retries": {"max": 1, "delay": 0.1}}))
    document, _ = run(flow)
    assert document["phase"] == "Succeeded"
    assert document["result"] == 2
    assert document["tasks"][0]["attempts"] == 2


def test_a_task_may_ask_for_a_retry() -> None:
    document, _ = run(workflow(sig("retry_once")))
    assert (document["phase"], document["result"]) == ("Succeeded", 2)
    assert document["tasks"][0]["attempts"] == 2


def test_timeout_is_raised_in_the_task() -> None:
    flow = workflow({"task": "localtasks.napping", "args": [30], "options": {"timeout": 0.5}})
    began = time.monotonic()
    document, _ = run(flow)
    assert time.monotonic() - began < 15
    assert document["error"]["type"] == "TimeLimitExceeded"


def test_a_task_deaf_to_its_timeout_is_killed_after_the_grace_period() -> None:
    flow = workflow(sig("stubborn_sleep", 30, options={"timeout": 0.5}))
    began = time.monotonic()
    document, _ = run(flow, kill_grace=0.5)
    elapsed = time.monotonic() - began
    assert 1.0 <= elapsed < 15, elapsed  # timeout + grace, then SIGTERM (ignored) + grace, SIGKILL
    assert document["phase"] == "Failed"
    assert document["error"]["type"] == "TimeLimitExceeded"
    assert document["tasks"][0]["state"] == "FAILURE"


def test_revoke_kills_a_task_that_ignores_sigterm() -> None:
    def revoke_soon(runner: LocalRunner) -> None:
        asyncio.get_running_loop().call_later(0.8, runner.revoke)

    began = time.monotonic()
    document, _ = run(workflow(sig("stubborn_sleep", 30)), during=revoke_soon, kill_grace=0.5)
    assert time.monotonic() - began < 15
    assert document["phase"] == "Revoked"
    assert document["tasks"][0]["state"] == "REVOKED"


def test_revoke_from_another_thread() -> None:
    import threading

    def revoke_from_thread(runner: LocalRunner) -> None:
        threading.Timer(0.8, runner.revoke).start()

    document, _ = run(workflow(sig("napping", 30)), during=revoke_from_thread, kill_grace=0.5)
    assert document["phase"] == "Revoked"


def test_spec_revoke_true_runs_nothing() -> None:
    flow = workflow({"chain": [sig("napping", 5), sig("napping", 5)]}, revoke=True)
    document, runner = run(flow)
    assert document["phase"] == "Revoked"
    assert [(task["state"], task["attempts"]) for task in document["tasks"]] == [("REVOKED", 0)] * 2
    assert runner.engine.phase == Phase.REVOKED


def test_a_task_that_expires_while_counting_down_is_revoked_and_fails_the_workflow() -> None:
    flow = workflow({"task": "localtasks.whoami", "options": {"countdown": 1.0, "expires": 0.3}})
    document, _ = run(flow)
    assert document["phase"] == "Failed"
    assert document["error"]["type"] == "TaskRevokedError"
    assert document["tasks"][0]["state"] == "REVOKED"
    assert document["tasks"][0]["attempts"] == 0


def test_old_style_errback_gets_the_failed_task_id() -> None:
    flow = workflow(
        {
            "chain": [{"task": "conftasks.add", "args": [1, 1]}, {"task": "conftasks.fail"}],
            "linkError": [{"task": "conftasks.log_error_id"}],
        }
    )
    document, _ = run(flow, code_dir=EXAMPLES)
    errback = document["tasks"][-1]
    assert errback["task"] == "conftasks.log_error_id"
    failed_id = document["tasks"][1]["uuid"]  # the failed task's own id, not its graph id
    assert errback["result"] == f"failed: {failed_id}"
    assert errback["args"] == [failed_id]


def test_link_callback_runs_with_the_value_and_leaves_the_result_alone() -> None:
    flow = workflow(
        {"task": "conftasks.add", "args": [2, 3], "link": [{"task": "conftasks.mul", "args": [10]}]}
    )
    document, _ = run(flow, code_dir=EXAMPLES)
    assert document["result"] == 5
    assert [task["result"] for task in document["tasks"]] == [5, 50]


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ("localtasks.not_json", "returned a value that is not JSON"),
        ("localtasks.no_such_task", "no_such_task"),
        ("nowhere.task", "nowhere.task"),
    ],
)
def test_task_faults_name_the_task(task: str, message: str) -> None:
    document, _ = run(workflow({"task": task}))
    assert document["phase"] == "Failed"
    assert message in document["error"]["message"]
    assert document["error"]["task"] == task


def test_logs_are_kept_per_attempt(tmp_path: Path) -> None:
    flow = workflow(
        {"task": "conftasks.flaky", "args": ["logs", 1], "options": {"retries": {"max": 1, "delay": 0}}}
    )
    document, _ = run(flow, code_dir=EXAMPLES, log_dir=tmp_path)
    assert document["result"] == 2
    assert "RuntimeError: flaky logs: attempt 1" in (tmp_path / "t0.1.log").read_text()
    assert "succeeded" in (tmp_path / "t0.2.log").read_text()


def test_observer_sees_every_step_up_to_the_end() -> None:
    seen: list[tuple[str, int]] = []
    flow = workflow({"chain": [sig("whoami"), sig("getenv", "HOME", immutable=True)]})
    document, _ = run(
        flow, observer=lambda engine, step: seen.append((engine.phase.value, engine.finished_count))
    )
    assert document["phase"] == "Succeeded"
    assert seen[0][0] == "Running"
    assert seen[-1] == ("Succeeded", 2)


def test_invalid_concurrency_is_refused() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        LocalRunner(workflow(sig("whoami")), concurrency=0)


def test_document_equals_what_the_store_holds() -> None:
    document, runner = run(workflow({"group": [sig("whoami"), sig("getenv", "HOME")]}))

    async def again() -> Any:
        return await runner.document()

    assert asyncio.run(again()) == document
