"""A warm runner (runtime/runner.py) against a real redis-server, as its workflow's own
Redis user: it runs queued attempts in turn, each in a fresh process, kills what passes its
limit or is withdrawn, and leaves what it held when it dies."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubecanvas.check import checked_spec
from kubecanvas.engine.events import Start
from kubecanvas.execution import environment as env
from kubecanvas.execution.logmarks import split_attempts
from kubecanvas.store.hostside import WorkflowStore, connect_async
from kubecanvas.store.layout import RunItem, WorkflowKeys, WorkflowMeta
from kubecanvas.store.tenancy import task_password, task_user
from support.redis import redis_server

HERE = Path(__file__).parent
UID = "0b5e4c1a-runner-test"
POOL = "p1"
KEY = b"operator-key"


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as (url, _):
        yield url


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _with_store(url: str, work: Any) -> Any:
    client = connect_async(url)
    try:
        return await work(WorkflowStore(client))
    finally:
        await client.aclose()


def launch(url: str, tasks: list[dict[str, Any]], *, timeout: float | None = None) -> list[RunItem]:
    """Store a group of `tasks`, start it (every task launched, attempt 1), grant its Redis
    user and queue each attempt for pool POOL, in order."""

    async def work(store: WorkflowStore) -> list[RunItem]:
        graph = checked_spec({"canvas": {"group": tasks}, "parallelism": 100}).graph
        await store.create(UID, graph, WorkflowMeta(name="w", namespace="ns"))
        persisted = await store.load(UID)
        assert persisted is not None
        engine = persisted.engine()
        step = engine.feed(Start(time.time()))
        await store.save_step(UID, engine, step.changed, step.new_nodes)
        await store.grant_tasks(UID, task_password(KEY, UID))
        items = [
            RunItem(launch.node.id, launch.attempt, POOL, timeout=timeout)
            for launch in sorted(step.launches, key=lambda launch: launch.node.index)
        ]
        for item in items:
            assert await store.enqueue(UID, item)
        return items

    items: list[RunItem] = run(_with_store(url, work))
    return items


def start_runner(url: str, *, idle: float = 30.0, grace: float = 0.5) -> subprocess.Popen[str]:
    environ = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        env.WORKFLOW: "ns/w",
        env.WORKFLOW_UID: UID,
        env.REDIS_URL: url,
        env.REDIS_USERNAME: task_user(UID),
        env.REDIS_PASSWORD: task_password(KEY, UID),
        env.RUNNER_POOL: POOL,
        env.RUNNER_NAME: "r1",
        env.RUNNER_IDLE_SECONDS: str(idle),
        env.RUNNER_GRACE_SECONDS: str(grace),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "kubecanvas_runtime", env.RUNNER_FLAG],
        env=environ,
        stderr=subprocess.PIPE,
        text=True,
    )


def state(url: str, items: list[RunItem]) -> dict[str, Any]:
    async def work(store: WorkflowStore) -> dict[str, Any]:
        outcomes = await store.outcomes(UID, [(item.task_id, item.attempt) for item in items])
        results = await store.results(UID, [item.task_id for item in items])
        held = await store.held(UID, "r1")
        queued = await store.client.llen(WorkflowKeys(UID).runner_queue(POOL))
        return {"outcomes": outcomes, "results": results, "held": held, "queued": queued}

    found: dict[str, Any] = run(_with_store(url, work))
    return found


def until(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s")
        time.sleep(0.05)


def stop(runner: subprocess.Popen[str]) -> str:
    """Stop the runner (SIGTERM: after its attempt in hand) and return its log; a test failing
    while it ran shows that log."""
    if runner.poll() is None:
        runner.send_signal(signal.SIGTERM)
    _, err = runner.communicate(timeout=20)
    if sys.exc_info()[0] is not None:
        print(f"the runner's log:\n{err}", file=sys.stderr)
    return err


def test_each_attempt_runs_in_its_own_process_and_cannot_see_the_previous_ones_memory(redis_url: str) -> None:
    items = launch(
        redis_url,
        [
            {"task": "runner_tasks.whoami"},
            {"task": "runner_tasks.remember", "args": ["secret"]},
            {"task": "runner_tasks.recall"},
            {"task": "runner_tasks.whoami"},
        ],
    )
    runner = start_runner(redis_url)
    try:
        found = until(lambda: (s := state(redis_url, items)) and len(s["outcomes"]) == 4 and s)
    finally:
        err = stop(runner)
    assert {outcome.kind for outcome in found["outcomes"].values()} == {"succeeded"}, err
    results = found["results"]
    pids = {results[items[0].task_id], results[items[3].task_id]}
    assert len(pids) == 2
    assert runner.pid not in pids
    assert results[items[1].task_id] == 1
    assert results[items[2].task_id] == []  # the task before it remembered in its own memory only
    assert found["held"] == []
    assert found["queued"] == 0
    assert runner.returncode == 0


def test_a_runner_with_no_work_exits_after_its_idle_time(redis_url: str) -> None:
    launch(redis_url, [{"task": "runner_tasks.whoami"}])
    runner = start_runner(redis_url, idle=1.0)
    started = time.monotonic()
    assert runner.wait(20) == 0
    err = runner.stderr.read() if runner.stderr else ""
    assert "no work for 1s; exiting" in err
    assert time.monotonic() - started < 15


def test_a_task_past_its_timeout_is_killed_and_reported_and_the_next_one_runs(redis_url: str) -> None:
    items = launch(
        redis_url,
        [{"task": "runner_tasks.deaf_nap", "args": [30]}, {"task": "runner_tasks.whoami"}],
        timeout=0.5,
    )
    runner = start_runner(redis_url, grace=0.5)
    try:
        found = until(lambda: (s := state(redis_url, items)) and len(s["outcomes"]) == 2 and s)
    finally:
        err = stop(runner)
    slow, quick = (found["outcomes"][(item.task_id, item.attempt)] for item in items)
    assert slow.kind == "failed", err
    assert slow.error.type == "TimeLimitExceeded"
    assert "killed by its runner" in slow.error.message
    assert quick.kind == "succeeded"


def test_a_withdrawn_attempt_is_killed_without_a_report_and_a_queued_one_never_starts(redis_url: str) -> None:
    items = launch(
        redis_url,
        [
            {"task": "runner_tasks.nap", "args": [30]},
            {"task": "runner_tasks.whoami"},
            {"task": "runner_tasks.whoami"},
        ],
    )
    runner = start_runner(redis_url)
    try:
        until(lambda: state(redis_url, items)["held"] == [items[0]])
        time.sleep(0.3)  # it runs now

        async def withdraw(store: WorkflowStore) -> list[bool]:
            return [await store.withdraw(UID, item, "revoked") for item in items[:2]]

        running, queued = run(_with_store(redis_url, withdraw))
        assert (running, queued) == (False, True)
        found = until(lambda: (s := state(redis_url, items)) and len(s["outcomes"]) == 1 and s)
    finally:
        err = stop(runner)
    assert set(found["outcomes"]) == {(items[2].task_id, 1)}, err
    assert "killed (revoked)" in err
    assert found["held"] == []
    assert found["queued"] == 0


def test_a_task_process_that_dies_is_reported_lost_by_its_runner(redis_url: str) -> None:
    items = launch(redis_url, [{"task": "runner_tasks.die"}, {"task": "runner_tasks.whoami"}])
    runner = start_runner(redis_url)
    try:
        found = until(lambda: (s := state(redis_url, items)) and len(s["outcomes"]) == 2 and s)
    finally:
        err = stop(runner)
    died = found["outcomes"][(items[0].task_id, 1)]
    assert died.kind == "failed", err
    assert died.error.type == "WorkerLostError"
    assert "SIGKILL" in died.error.message
    assert found["outcomes"][(items[1].task_id, 1)].kind == "succeeded"


def test_a_runner_killed_mid_task_leaves_the_attempt_in_its_hands_and_the_rest_queued(redis_url: str) -> None:
    items = launch(redis_url, [{"task": "runner_tasks.nap", "args": [30]}, {"task": "runner_tasks.whoami"}])
    runner = start_runner(redis_url)
    until(lambda: state(redis_url, items)["held"] == [items[0]])
    runner.kill()
    runner.wait(10)
    found = state(redis_url, items)
    assert found["held"] == [items[0]]  # where the operator finds it, and fails it as lost
    assert found["queued"] == 1
    assert found["outcomes"] == {}


def test_a_runner_exits_once_its_workflow_has_ended_and_marks_each_attempts_lines(redis_url: str) -> None:
    items = launch(redis_url, [{"task": "runner_tasks.whoami"}, {"task": "runner_tasks.nap", "args": [0]}])
    runner = start_runner(redis_url, idle=60.0)
    until(lambda: len(state(redis_url, items)["outcomes"]) == 2)

    async def finish(store: WorkflowStore) -> None:
        await store.client.hset(WorkflowKeys(UID).meta, "phase", "Succeeded")

    run(_with_store(redis_url, finish))
    assert runner.wait(15) == 0  # not its 60 s of idleness
    err = runner.stderr.read() if runner.stderr else ""
    assert "its workflow has ended; exiting" in err
    attempts = split_attempts(err.splitlines())
    assert set(attempts) == {("t0", 1), ("t1", 1)}
    assert any("running runner_tasks.nap (task t1 attempt 1" in line for line in attempts[("t1", 1)])
    assert not any("runner_tasks.nap" in line for line in attempts[("t0", 1)])


def test_a_task_process_that_exits_without_a_report_is_reported_by_its_runner(redis_url: str) -> None:
    items = launch(
        redis_url, [{"task": "runner_tasks.vanish", "args": [75]}, {"task": "runner_tasks.whoami"}]
    )
    runner = start_runner(redis_url)
    try:
        found = until(lambda: (s := state(redis_url, items)) and len(s["outcomes"]) == 2 and s)
    finally:
        err = stop(runner)
    gone = found["outcomes"][(items[0].task_id, 1)]
    assert gone.kind == "failed", err
    assert gone.error.type == "WorkerLostError"
    assert "could not reach Redis" in gone.error.message
    assert found["outcomes"][(items[1].task_id, 1)].kind == "succeeded"
