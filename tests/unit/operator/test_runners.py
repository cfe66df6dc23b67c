"""Warm runners, the operator's side (operator/runners.py) through the conductor: a fake of the
Kubernetes API, a real redis-server. What a runner does in Redis (take an attempt into its
hands) is done here by hand, as runtime/runner.py does it (tests/unit/runtime/test_runner.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conductor_fakes import NAMESPACE, FakeProvisioner, Harness
from conductor_fakes import harness as conductor_harness

from kubecanvas.errors import KubeApiError
from kubecanvas.execution import environment as env
from kubecanvas.resources import RUNNER_POOL_LABEL, WORKFLOW_UID_LABEL
from kubecanvas.store.layout import Outcome, RunItem, TaskEvent, WorkflowKeys
from support.redis import redis_server

WARM = {"runner": "warm"}


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as (url, _process):
        yield url


def harness(redis_url: str, **config: Any) -> Any:
    """The conductor's harness; a finished workflow's runners are deleted at once (not 30 s
    later, which keeps their logs readable)."""
    return conductor_harness(redis_url, **{"succeeded_job_ttl_seconds": 0, **config})


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def spec(canvas: dict[str, Any], **defaults: Any) -> dict[str, Any]:
    return {"canvas": canvas, "defaults": {**WARM, **defaults}, "ttlSecondsAfterFinished": None}


def runners(test: Harness) -> list[dict[str, Any]]:
    return [job for job in test.api.jobs.values() if RUNNER_POOL_LABEL in job["metadata"]["labels"]]


def variables(job: dict[str, Any]) -> dict[str, Any]:
    container = job["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


async def queued(test: Harness, uid: str, pool: str) -> list[RunItem]:
    raw = await test.store.client.lrange(WorkflowKeys(uid).runner_queue(pool), 0, -1)
    return [RunItem.from_text(text) for text in raw]


async def take(test: Harness, uid: str, pool: str, runner: str) -> RunItem:
    """What a runner does (BLMOVE): the next attempt of the queue into its hands."""
    keys = WorkflowKeys(uid)
    text = await test.store.client.lmove(keys.runner_queue(pool), keys.runner_held(runner), "LEFT", "RIGHT")
    assert text is not None
    return RunItem.from_text(text)


def ended(job: dict[str, Any], condition: str = "Failed") -> dict[str, Any]:
    return {**job, "status": {"conditions": [{"type": condition, "status": "True"}]}}


async def settle(test: Harness) -> None:
    await test.conductor.drain()
    await asyncio.sleep(0.2)  # a retry's countdown (0 s, plus jitter) on the real loop
    await test.conductor.drain()


def test_a_warm_task_is_queued_for_its_pool_and_a_runner_job_started_instead_of_a_task_job(
    redis_url: str,
) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            canvas = {"group": [{"task": "m.a", "args": [1]}, {"task": "m.a", "options": {"timeout": 2}}]}
            body = test.body("warm", spec(canvas, timeout=7))
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            job = next(iter(test.api.jobs.values()))
            labels = job["metadata"]["labels"]
            pool = labels[RUNNER_POOL_LABEL]
            assert labels[WORKFLOW_UID_LABEL] == uid
            container = job["spec"]["template"]["spec"]["containers"][0]
            assert container["command"][-1] == env.RUNNER_FLAG
            found = variables(job)
            assert found[env.RUNNER_POOL] == pool
            assert found[env.RUNNER_NAME] == job["metadata"]["name"]
            assert env.TASK_ID not in found
            assert env.ATTEMPT not in found
            assert "activeDeadlineSeconds" not in job["spec"]  # each attempt's limit is its runner's
            assert found[env.REDIS_PASSWORD] == {"secretKeyRef": {"name": f"secret-{uid}", "key": "password"}}
            # one pool (the same pod template), each attempt with its own time limit
            assert {job["metadata"]["labels"][RUNNER_POOL_LABEL] for job in test.api.jobs.values()} == {pool}
            assert await queued(test, uid, pool) == [
                RunItem("t0", 1, pool, timeout=7.0),
                RunItem("t1", 1, pool, timeout=2.0),
            ]

    run(scenario())


def test_a_pool_has_a_runner_per_attempt_in_flight_up_to_its_cap_and_one_per_pod_template(
    redis_url: str,
) -> None:
    async def scenario() -> None:
        async with harness(redis_url, runners_per_pool=3) as test:
            group = [{"task": "m.a"} for _ in range(5)]
            group.append({"task": "m.b", "options": {"image": "other:1"}})  # another pool
            await test.conductor.admit(test.body("wide", spec({"group": group})))
            await test.conductor.drain()
            pools = [job["metadata"]["labels"][RUNNER_POOL_LABEL] for job in runners(test)]
            assert sorted(pools.count(pool) for pool in set(pools)) == [1, 3]
            other = next(
                job for job in runners(test) if pools.count(job["metadata"]["labels"][RUNNER_POOL_LABEL]) == 1
            )
            assert other["spec"]["template"]["spec"]["containers"][0]["image"] == "other:1"

    run(scenario())


def test_a_queue_or_a_task_sets_its_pools_number_of_runners(redis_url: str) -> None:
    """`runners` (a Celery worker's --concurrency) caps its pool instead of the operator's
    `runners_per_pool`, above it or below."""

    async def scenario() -> None:
        queues = {"wide": {"runner": "warm", "runners": 6}}
        async with harness(redis_url, runners_per_pool=2, queues=queues) as test:
            group = [{"task": "m.a", "options": {"queue": "wide"}} for _ in range(8)]
            group += [{"task": "m.b", "options": {"runners": 1}} for _ in range(3)]
            group += [{"task": "m.c", "options": {"image": "other:1"}} for _ in range(3)]
            await test.conductor.admit(
                test.body(
                    "sized",
                    spec({"group": group}),
                )
            )
            await test.conductor.drain()
            pools = [job["metadata"]["labels"][RUNNER_POOL_LABEL] for job in runners(test)]
            assert sorted(pools.count(pool) for pool in set(pools)) == [1, 2, 6]

    run(scenario())


def test_a_runner_that_dies_holding_an_attempt_fails_it_as_lost_and_it_runs_again(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("dies", spec({"task": "m.a"}, retries={"max": 1, "delay": 0}))
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            (job,) = runners(test)
            name, pool = job["metadata"]["name"], job["metadata"]["labels"][RUNNER_POOL_LABEL]
            assert await take(test, uid, pool, name) == RunItem("t0", 1, pool)
            await test.conductor.on_job("MODIFIED", ended(job))  # its pod was killed
            await settle(test)
            record = test.conductor.runs[uid].engine.records["t0"]
            assert (record.attempt, record.terminal) == (2, False)  # lost, and retried per its policy
            assert await queued(test, uid, pool) == [RunItem("t0", 2, pool)]
            assert await test.store.held(uid, name) == []
            assert name not in await test.store.runners(uid)
            (_second,) = [job for job in runners(test) if job["metadata"]["name"] != name]  # for the retry
            await test.report(uid, "t0", 2, Outcome("succeeded"), value=1)
            assert test.api.status("dies")["phase"] == "Succeeded"
            # the workflow's end removes its runners; the failed one stays for its logs (TTL)
            assert [job["metadata"]["name"] for job in runners(test)] == [name]

    run(scenario())


def test_a_runner_that_ended_after_its_task_reported_loses_nothing(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("reported", spec({"task": "m.a"}))
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            (job,) = runners(test)
            name, pool = job["metadata"]["name"], job["metadata"]["labels"][RUNNER_POOL_LABEL]
            await take(test, uid, pool, name)
            await test.store.put_outcome(uid, "t0", 1, Outcome("succeeded"), value=5)  # news not read yet
            await test.conductor.on_job("DELETED", job)
            await settle(test)
            status = test.api.status("reported")
            assert (status["phase"], status["result"]) == ("Succeeded", 5)

    run(scenario())


def test_a_runner_pod_that_cannot_be_scheduled_says_so_then_fails_the_queued_tasks(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url, unschedulable_timeout_seconds=300.0) as test:
            body = test.body("nowhere", spec({"group": [{"task": "m.a"}, {"task": "m.b"}]}))
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            job = runners(test)[0]
            name, pool = job["metadata"]["name"], job["metadata"]["labels"][RUNNER_POOL_LABEL]
            since = test.clock()
            pod = {
                "metadata": {
                    "uid": f"pod-{name}",
                    "namespace": NAMESPACE,
                    "labels": {**job["metadata"]["labels"], "job-name": name},
                },
                "status": {
                    "phase": "Pending",
                    "conditions": [
                        {
                            "type": "PodScheduled",
                            "status": "False",
                            "reason": "Unschedulable",
                            "message": "0/1 nodes are available: 1 node(s) didn't match selector.",
                            "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since)),
                        }
                    ],
                },
            }
            await test.conductor.on_pod(pod)
            await test.conductor.on_pod(pod)
            assert [reason for reason, _ in test.notices] == ["RunnerPending"]  # said once
            assert test.api.status("nowhere")["phase"] == "Running"
            test.clock.now = since + 301
            await test.conductor.on_pod(pod)
            await test.conductor.drain()
            status = test.api.status("nowhere")
            assert status["phase"] == "Failed"
            assert status["error"]["type"] == "Unschedulable"
            assert "didn't match selector" in status["error"]["message"]
            assert "RunnerCannotStart" in [reason for reason, _ in test.notices]
            assert name in test.api.deleted_jobs
            assert await queued(test, uid, pool) == []

    run(scenario())


def test_a_runner_job_the_api_refuses_fails_the_pools_queued_tasks_with_the_reason(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            test.api.create_errors = [KubeApiError(422, "Job.batch is invalid: bad resources")]
            await test.conductor.admit(test.body("refused", spec({"task": "m.a"})))
            await test.conductor.drain()
            status = test.api.status("refused")
            assert status["phase"] == "Failed"
            assert status["error"]["type"] == "JobCreationError"
            assert "bad resources" in status["error"]["message"]

    run(scenario())


def test_revoking_withdraws_a_queued_warm_attempt_and_marks_it_killed(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("revoked", spec({"task": "m.a"}))
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            pool = runners(test)[0]["metadata"]["labels"][RUNNER_POOL_LABEL]
            await test.conductor.revoke(uid)
            await test.conductor.drain()
            assert await queued(test, uid, pool) == []
            assert await test.store.client.hexists(WorkflowKeys(uid).kills, "t0#1")
            assert test.api.status("revoked")["phase"] == "Revoked"

    run(scenario())


def test_a_restarted_operator_queues_an_attempt_never_queued_and_fails_one_lost_unseen(
    redis_url: str,
) -> None:
    """An operator killed between persisting a step and queueing its attempt; a runner that
    died while no operator watched (its Job gone, and the news with it)."""

    async def scenario() -> None:
        async with harness(redis_url) as first:
            body = first.body("restart", spec({"group": [{"task": "m.a"}, {"task": "m.b"}]}))
            uid = body["metadata"]["uid"]
            await first.conductor.admit(body)
            await first.conductor.drain()
            keys = WorkflowKeys(uid)
            runner, _other = runners(first)
            pool, name = runner["metadata"]["labels"][RUNNER_POOL_LABEL], runner["metadata"]["name"]
            # t0: never queued; t1: taken by a runner whose Job then vanished unseen
            await first.store.client.hdel(keys.enqueued, "t0#1")
            await first.store.client.lrem(keys.runner_queue(pool), 0, RunItem("t0", 1, pool).to_text())
            assert await take(first, uid, pool, name) == RunItem("t1", 1, pool)
            del first.api.jobs[name]
            async with harness(redis_url) as second:
                second.api.workflows["restart"] = body
                second.api.jobs = dict(first.api.jobs)
                await second.conductor.admit(body)
                await second.conductor.drain()
                assert await queued(second, uid, pool) == [RunItem("t0", 1, pool)]
                records = second.conductor.runs[uid].engine.records
                assert records["t1"].terminal
                assert records["t1"].error is not None
                assert records["t1"].error.type == "WorkerLostError"
                assert not records["t0"].terminal
                assert name not in await second.store.runners(uid)

    run(scenario())


def test_a_runner_created_after_the_reconciles_listing_is_not_taken_for_gone(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("young", spec({"task": "m.a"}))
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            (runner,) = runners(test)
            pool, name = runner["metadata"]["labels"][RUNNER_POOL_LABEL], runner["metadata"]["name"]
            await take(test, uid, pool, name)
            del test.api.jobs[name]  # as if the listing had been read just before its creation
            await test.conductor.reconcile_running()
            await test.conductor.drain()
            assert not test.conductor.runs[uid].engine.records["t0"].terminal
            assert await test.store.held(uid, name) == [RunItem("t0", 1, pool)]

    run(scenario())


def test_a_pool_is_the_pod_template_and_a_queue_can_make_its_tasks_warm() -> None:
    from kubecanvas.graph.nodes import TaskNode
    from kubecanvas_operator.runners import runner_pool

    def node(**options: Any) -> TaskNode:
        return TaskNode(id="t0", index=0, task="m.a", options=options)

    queues = {"fast": {"runner": "warm", "resources": {"limits": {"cpu": "1"}}}}
    warm, pod = runner_pool(node(runner="warm"), {}), runner_pool(node(), {})
    assert pod is None
    assert runner_pool(node(runner="pod", queue="fast"), queues) is None  # the task's own wins
    assert warm is not None
    same = runner_pool(node(runner="warm", timeout=3, countdown=1), {})  # how it runs: same pod
    other = runner_pool(node(runner="warm", image="other:1"), {})
    queued = runner_pool(node(queue="fast"), queues)
    assert same is not None
    assert same[0] == warm[0]
    assert other is not None
    assert other[0] != warm[0]
    assert queued is not None
    assert queued[0] not in (warm[0], other[0])
    assert queued[1]["resources"] == {"limits": {"cpu": "1"}}


def test_the_workflows_redis_user_outlives_its_runners(redis_url: str) -> None:
    """Runners learn that their workflow ended from Redis, as its user: that user is removed
    only once the runners are gone (deleted after the succeeded-task TTL), not at the end."""

    async def scenario() -> None:
        async with harness(redis_url, succeeded_job_ttl_seconds=0.3) as test:
            body = test.body("ending", spec({"task": "m.a"}))
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            (runner,) = runners(test)
            provisioner = test.conductor.provisioner
            assert isinstance(provisioner, FakeProvisioner)
            await test.store.put_outcome(uid, "t0", 1, Outcome("succeeded"), value=1)
            await test.conductor.on_task_events([TaskEvent(uid, "t0", 1, "succeeded", Outcome("succeeded"))])
            assert test.api.status("ending")["phase"] == "Succeeded"
            assert uid not in provisioner.released
            await test.conductor.drain()
            assert runner["metadata"]["name"] in test.api.deleted_jobs
            await test.conductor.drain()
            assert uid in provisioner.released

    run(scenario())
