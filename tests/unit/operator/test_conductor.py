"""The conductor, unit-tested: a fake of the Kubernetes API behind its Protocol, a real
redis-server for its state, an injectable clock. The end-to-end suite runs the same code
against the real node; here each rule is pinned down in a second."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conductor_fakes import NAMESPACE, FakeKube, Harness, harness

from kubecanvas.canvas.offload import INLINE_SPEC_LIMIT, CanvasRef, split
from kubecanvas.engine.states import TaskFailure
from kubecanvas.errors import KubeApiError
from kubecanvas.resources import (
    ATTEMPT_LABEL,
    RETRY_OF_ANNOTATION,
    RETRY_OF_UID_ANNOTATION,
    TASK_ID_LABEL,
    WORKFLOW_UID_LABEL,
    task_secret_name,
)
from kubecanvas.store.layout import Outcome, TaskEvent, WorkflowKeys
from support.redis import redis_server


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as (url, _process):
        yield url


CHAIN = {
    "canvas": {"chain": [{"task": "m.add", "args": [1, 2]}, {"task": "m.mul", "args": [10]}]},
    "ttlSecondsAfterFinished": None,
}


def unschedulable_pod(uid: str, job: str, message: str, since: float) -> dict[str, Any]:
    """The pending pod of attempt 1 of task t0, which the scheduler cannot place since `since`."""
    return {
        "metadata": {
            "uid": f"pod-{job}",
            "namespace": NAMESPACE,
            "labels": {WORKFLOW_UID_LABEL: uid, TASK_ID_LABEL: "t0", ATTEMPT_LABEL: "1", "job-name": job},
        },
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                    "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since)),
                }
            ],
        },
    }


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_a_chain_runs_job_by_job_and_ends_with_its_result(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("chain", CHAIN)
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            assert test.api.job_names() == ["chain-t0-1"]
            labels = test.api.jobs["chain-t0-1"]["metadata"]["labels"]
            assert (labels[WORKFLOW_UID_LABEL], labels[TASK_ID_LABEL], labels[ATTEMPT_LABEL]) == (
                uid,
                "t0",
                "1",
            )
            assert test.api.status("chain")["phase"] == "Running"

            await test.report(uid, "t0", 1, Outcome("succeeded"), value=3)
            assert test.api.job_names() == ["chain-t0-1", "chain-t1-1"]

            await test.report(uid, "t1", 1, Outcome("succeeded"), value=30)
            status = test.api.status("chain")
            assert (status["phase"], status["result"], status["progress"]) == ("Succeeded", 30, "2/2")
            assert "WorkflowSucceeded" in [reason for reason, _ in test.notices]

    run(scenario())


def test_a_failed_task_fails_the_workflow_and_never_starts_its_dependents(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("failing", CHAIN)
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            await test.report(uid, "t0", 1, Outcome("failed", error=TaskFailure("ValueError", "bad input")))
            status = test.api.status("failing")
            assert status["phase"] == "Failed"
            assert status["error"]["type"] == "ValueError"
            assert (status["counts"]["FAILURE"], status["counts"]["REVOKED"]) == (1, 1)
            assert test.api.job_names() == ["failing-t0-1"]

    run(scenario())


def test_a_job_that_cannot_be_created_fails_its_task_by_name(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("forbidden", CHAIN)
            test.api.create_errors = [KubeApiError(403, "jobs.batch is forbidden")]
            await test.conductor.admit(body)
            await test.conductor.drain()
            status = test.api.status("forbidden")
            assert status["phase"] == "Failed"
            assert status["error"]["type"] == "JobCreationError"
            assert "forbidden" in status["error"]["message"]

    run(scenario())


def test_a_transient_api_error_is_retried_before_anything_fails(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("flaky", CHAIN)
            test.api.create_errors = [KubeApiError(503, "unavailable"), KubeApiError(0, "connection refused")]
            await test.conductor.admit(body)
            await test.conductor.drain()
            assert test.api.job_names() == ["flaky-t0-1"]
            assert test.api.status("flaky")["phase"] == "Running"

    run(scenario())


def test_an_api_outage_of_any_length_delays_the_job_and_fails_nothing(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("outage", CHAIN)
            test.api.create_errors = [KubeApiError(0, "connection refused")] * 40
            await test.conductor.admit(body)
            await test.conductor.drain()
            assert test.api.create_errors == []
            assert test.api.job_names() == ["outage-t0-1"]
            assert test.api.status("outage")["phase"] == "Running"

    run(scenario())


def test_a_manifest_the_client_rejects_fails_the_task_with_the_reason(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("rejected", CHAIN)
            test.api.create_errors = [ValueError("Invalid value for `containers`, must not be None")]
            await test.conductor.admit(body)
            await test.conductor.drain()
            status = test.api.status("rejected")
            assert status["phase"] == "Failed"
            assert status["error"]["type"] == "JobCreationError"
            assert "ValueError: Invalid value for `containers`" in status["error"]["message"]

    run(scenario())


def test_a_report_whose_news_was_lost_is_adopted_by_the_periodic_reconcile(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("lostnews", CHAIN)
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            # the pod wrote its outcome, but its stream entry never reached the conductor
            await test.store.put_outcome(uid, "t0", 1, Outcome("succeeded"), value=3)
            assert test.api.job_names() == ["lostnews-t0-1"]
            await test.conductor.reconcile_running()
            await test.conductor.drain()
            assert test.api.job_names() == ["lostnews-t0-1", "lostnews-t1-1"]

    run(scenario())


def test_the_periodic_reconcile_lists_a_workflows_jobs_once_however_many_are_in_flight(
    redis_url: str,
) -> None:
    """Cost, not only outcome: a read per attempt in flight was 6 API calls per task over a
    500-task fan-out. Two Jobs gone and one outcome whose news was lost, among twenty."""

    async def scenario() -> None:
        async with harness(redis_url) as test:
            group = {"canvas": {"group": [{"task": "m.add", "args": [n, 1]} for n in range(20)]}}
            body = test.body("wide", {**group, "ttlSecondsAfterFinished": None})
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            assert len(test.api.job_names()) == 20
            listed = test.api.listings
            del test.api.jobs["wide-t3-1"], test.api.jobs["wide-t7-1"]
            await test.store.put_outcome(uid, "t5", 1, Outcome("succeeded"), value=6)
            await test.conductor.reconcile_running()
            await test.conductor.drain()
            assert test.api.listings == listed + 1
            assert {"wide-t3-1", "wide-t7-1"} <= set(test.api.job_names())
            document = test.conductor.runs[uid].engine.records
            assert document["t5"].terminal  # adopted from Redis, its Job not asked about

    run(scenario())


def test_a_job_that_vanished_unseen_is_created_again_by_the_periodic_reconcile(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("vanished", CHAIN)
            await test.conductor.admit(body)
            await test.conductor.drain()
            del test.api.jobs["vanished-t0-1"]  # e.g. never created: the API server lost it
            await test.conductor.reconcile_running()
            await test.conductor.drain()
            assert test.api.job_names() == ["vanished-t0-1"]
            assert test.api.status("vanished")["phase"] == "Running"

    run(scenario())


def test_a_stream_entry_is_believed_only_as_far_as_the_workflows_own_outcome(redis_url: str) -> None:
    """The events stream is shared by every workflow: any task pod can append to it. How an
    attempt ended is read from the workflow's own outcomes, never from the entry."""

    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("forged", CHAIN)
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            forged = TaskEvent(uid, "t0", 1, "succeeded", Outcome("succeeded"), at=test.clock())
            await test.conductor.on_task_events([forged])  # nothing stored for t0 attempt 1
            await test.conductor.drain()
            assert test.api.job_names() == ["forged-t0-1"]
            assert test.api.status("forged")["phase"] == "Running"

            # the task really failed; an entry claiming success does not make it succeed
            await test.store.put_outcome(uid, "t0", 1, Outcome("failed", error=TaskFailure("KeyError", "x")))
            await test.conductor.on_task_events([forged])
            await test.conductor.drain()
            status = test.api.status("forged")
            assert status["phase"] == "Failed"
            assert status["error"]["type"] == "KeyError"

    run(scenario())


def test_an_invalid_workflow_ends_failed_with_its_field_path(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("invalid", {"canvas": {"chord": {"header": [{"task": "m.a"}]}}})
            await test.conductor.admit(body)
            status = test.api.status("invalid")
            assert status["phase"] == "Failed"
            assert "spec.canvas.chord" in status["message"]
            assert test.api.jobs == {}
            assert [reason for reason, _ in test.notices] == ["InvalidWorkflow"]

    run(scenario())


def test_a_workflow_with_many_problems_keeps_its_message_short(redis_url: str) -> None:
    """The MESSAGE column of `kubectl get workflows` names the first three; all are in
    status.problems (40 tasks with the same bad option made a message of 40 problems)."""

    async def scenario() -> None:
        async with harness(redis_url) as test:
            header = [{"task": "m.a", "options": {"retries": 3}} for _ in range(40)]
            body = test.body("many", {"canvas": {"group": header}})
            await test.conductor.admit(body)
            status = test.api.status("many")
            assert status["phase"] == "Failed"
            assert len(status["problems"]) == 40
            assert status["message"].count("spec.canvas.group[") == 3
            assert status["message"].endswith("(and 37 more in status.problems)")

    run(scenario())


def test_revoking_deletes_the_running_jobs(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("revoked", {"canvas": {"group": [{"task": "m.a"}, {"task": "m.b"}]}})
            await test.conductor.admit(body)
            await test.conductor.drain()
            assert test.api.job_names() == ["revoked-t0-1", "revoked-t1-1"]
            await test.conductor.revoke(body["metadata"]["uid"])
            await test.conductor.drain()
            assert sorted(test.api.deleted_jobs) == ["revoked-t0-1", "revoked-t1-1"]
            assert test.api.status("revoked")["phase"] == "Revoked"

    run(scenario())


def test_a_deleted_job_is_a_lost_worker_and_is_retried(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            spec = {"canvas": {"task": "m.a"}, "defaults": {"retries": {"max": 1, "delay": 0}}}
            body = test.body("evicted", spec)
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            job = test.api.jobs.pop("evicted-t0-1")
            await test.conductor.on_job("DELETED", job)
            await test.conductor.drain()
            await asyncio.sleep(0.2)  # the retry's countdown (0 s, plus jitter) on the real loop
            await test.conductor.drain()
            assert "evicted-t0-2" in test.api.jobs
            await test.report(uid, "t0", 2, Outcome("succeeded"), value=1)
            assert test.api.status("evicted")["phase"] == "Succeeded"

    run(scenario())


def test_a_pod_that_cannot_be_scheduled_fails_once_the_clock_says_so(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url, unschedulable_timeout_seconds=300.0) as test:
            body = test.body("pending", {"canvas": {"task": "m.a"}})
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            since = test.clock()
            pod = unschedulable_pod(
                uid, "pending-t0-1", "0/1 nodes are available: 1 Insufficient memory.", since
            )
            await test.conductor.on_pod(pod)
            assert test.api.status("pending")["phase"] == "Running"  # not yet: 0 s of 300
            test.clock.now = since + 301
            await test.conductor.on_pod(pod)
            await test.conductor.drain()
            status = test.api.status("pending")
            assert status["phase"] == "Failed"
            assert status["error"]["type"] == "Unschedulable"
            assert "Insufficient memory" in status["error"]["message"]

    run(scenario())


def test_a_pod_that_got_scheduled_or_left_the_watch_is_not_looked_at_again(redis_url: str) -> None:
    """A look again is planned for a pod the scheduler cannot place yet; once it is placed, or
    has started (it leaves the Pending-only watch), the planned look would only list pods."""

    async def scenario() -> None:
        async with harness(redis_url, unschedulable_timeout_seconds=0.3) as test:
            spec = {"canvas": {"group": [{"task": "m.a"}, {"task": "m.b"}, {"task": "m.c"}]}}
            body = test.body("looks", spec)
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            message = "0/1 nodes are available: 1 Insufficient memory."
            pods = {
                job: unschedulable_pod(uid, job, message, test.clock())
                for job in ("looks-t0-1", "looks-t1-1", "looks-t2-1")
            }
            for job, pod in pods.items():
                pod["metadata"]["uid"] = f"pod-{job}"
                await test.conductor.on_pod(pod)
            placed = copy.deepcopy(pods["looks-t1-1"])
            placed["status"]["conditions"] = [{"type": "PodScheduled", "status": "True"}]
            await test.conductor.on_pod(placed)
            await test.conductor.on_pod(pods["looks-t2-1"], gone=True)
            await asyncio.sleep(1.0)  # past the planned look (0.3 s, plus 0.5)
            await test.conductor.drain()
            assert test.api.pod_listings == ["looks-t0-1"]  # only the one still waiting

    run(scenario())


def test_a_pod_waiting_for_room_its_own_workflow_fills_is_not_failed(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url, unschedulable_timeout_seconds=300.0) as test:
            body = test.body("full", {"canvas": {"group": [{"task": "m.a"}, {"task": "m.b"}]}})
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            pod = unschedulable_pod(
                uid, "full-t0-1", "0/1 nodes are available: 1 Too many pods.", test.clock() - 3600
            )
            await test.conductor.on_pod(pod)  # t1 runs: it holds the room t0 waits for
            assert test.api.status("full")["phase"] == "Running"
            await test.report(uid, "t1", 1, Outcome("succeeded"), value=1)
            await test.conductor.on_pod(pod)  # nothing of ours left to make room
            await test.conductor.drain()
            status = test.api.status("full")
            assert status["phase"] == "Failed"
            assert status["error"]["type"] == "Unschedulable"

    run(scenario())


def test_a_task_secret_deleted_by_hand_is_made_again_and_its_pod_not_failed(redis_url: str) -> None:
    """The pod waits (CreateContainerConfigError) for the workflow's task Secret, which someone
    deleted: it is made again once, and the pod is given time to start; still stuck, it fails."""

    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("nosecret", {"canvas": {"task": "m.a"}})
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            pod = unschedulable_pod(uid, "nosecret-t0-1", "", test.clock())
            pod["status"] = {
                "phase": "Pending",
                "containerStatuses": [
                    {
                        "state": {
                            "waiting": {
                                "reason": "CreateContainerConfigError",
                                "message": f'secret "{task_secret_name(uid)}" not found',
                            }
                        }
                    }
                ],
            }
            await test.conductor.on_pod(pod)
            await test.conductor.drain()
            assert test.conductor.provisioner.restored == [uid]  # type: ignore[attr-defined]
            assert test.api.status("nosecret")["phase"] == "Running"
            await test.conductor.on_pod(pod)  # the look again: still no container
            await test.conductor.drain()
            status = test.api.status("nosecret")
            assert (status["phase"], status["error"]["type"]) == ("Failed", "CreateContainerConfigError")
            assert test.conductor.provisioner.restored == [uid]  # type: ignore[attr-defined]  # once

    run(scenario())


def test_a_restarted_conductor_creates_the_job_its_predecessor_never_made(redis_url: str) -> None:
    """The step that decided a launch is persisted before the Job is created: an operator
    killed in between leaves a task in flight with no Job, which the next one creates."""

    async def scenario() -> None:
        async with harness(redis_url) as first:
            body = first.body("resumed", CHAIN)
            uid = body["metadata"]["uid"]
            await first.conductor.admit(body)
            await first.conductor.drain()
            first.api.jobs.clear()  # the Job never made it to the API server
            async with harness(redis_url) as second:
                second.api.workflows["resumed"] = body
                await second.conductor.admit(body)
                await second.conductor.drain()
                assert second.api.job_names() == ["resumed-t0-1"]
                await second.report(uid, "t0", 1, Outcome("succeeded"), value=3)
                assert second.api.job_names() == ["resumed-t0-1", "resumed-t1-1"]

    run(scenario())


def test_the_periodic_reconcile_grants_running_pods_their_redis_user_again(redis_url: str) -> None:
    """A Redis restart forgets ACL users: pods already running would be refused at their next
    report. Each reconcile (and the return of Redis) grants the user of every workflow with
    attempts in flight again."""

    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("granted", CHAIN)
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            provisioner: Any = test.conductor.provisioner
            launched = len(provisioner.granted)  # once per Job
            await test.conductor.reconcile_running()
            assert provisioner.granted[launched:] == [uid]

    run(scenario())


def test_each_new_workflow_has_its_namespace_checked_again(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("fresh", CHAIN)
            await test.conductor.admit(body)
            await test.conductor.drain()
            assert test.conductor.provisioner.forgotten == [NAMESPACE]  # type: ignore[attr-defined]

    run(scenario())


def test_news_about_an_old_attempt_changes_nothing(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("stale", CHAIN)
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            await test.report(uid, "t0", 7, Outcome("succeeded"), value=99)  # no such attempt
            assert test.api.job_names() == ["stale-t0-1"]
            assert test.api.status("stale")["phase"] == "Running"

    run(scenario())


async def flush(test: Harness, uid: str) -> None:
    """What FLUSHALL, or a restart of a Redis without persistence, does to one workflow."""
    await test.store.delete(uid)


def lost(status: dict[str, Any]) -> tuple[str, str, bool]:
    return status["phase"], status["error"]["type"], "state was lost from Redis" in status["message"]


def test_state_flushed_from_redis_is_noticed_by_the_periodic_reconcile(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("flushed", CHAIN)
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            await flush(test, uid)
            await test.conductor.reconcile_running()
            await test.conductor.drain()
            assert lost(test.api.status("flushed")) == ("Failed", "StateLostError", True)
            assert test.api.deleted_jobs == ["flushed-t0-1"]  # nothing keeps running for it
            assert "StateLost" in [reason for reason, _ in test.notices]
            assert not await test.store.exists(uid)
            await test.conductor.reconcile_running()  # and it stays ended
            assert test.api.status("flushed")["phase"] == "Failed"

    run(scenario())


def test_state_flushed_from_redis_is_noticed_by_the_next_step(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            body = test.body("next", CHAIN)
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            await flush(test, uid)
            await test.report(uid, "t0", 1, Outcome("succeeded"), value=3)  # a pod still reports
            assert lost(test.api.status("next")) == ("Failed", "StateLostError", True)
            assert test.api.job_names() == [
                "next-t0-1"
            ]  # t1's Job never made (t0's ended; the Workflow owns it)
            assert not await test.store.exists(uid)  # the step wrote nothing back

    run(scenario())


def test_a_restart_that_finds_a_started_workflow_gone_from_redis_ends_it(redis_url: str) -> None:
    """Never started over: its Jobs of the same names exist, and its tasks would run twice."""

    async def scenario() -> None:
        async with harness(redis_url) as first:
            body = first.body("restarted", CHAIN)
            uid = body["metadata"]["uid"]
            await first.conductor.admit(body)
            await first.conductor.drain()
            started = copy.deepcopy(first.api.workflows["restarted"])
            await flush(first, uid)
        async with harness(redis_url) as second:
            second.api.workflows["restarted"] = started
            await second.conductor.admit(started)
            await second.conductor.drain()
            assert lost(second.api.status("restarted")) == ("Failed", "StateLostError", True)
            assert second.api.job_names() == []  # nothing started over
            assert not await second.store.exists(uid)

    run(scenario())


def test_the_conductor_needs_nothing_but_its_protocols(tmp_path: Path) -> None:
    """The fake satisfies the Protocol the conductor is typed against (mypy checks the
    same): no test reaches the real API through a side door."""
    from kubecanvas_operator.clients import ConductorClient

    client: ConductorClient = FakeKube()
    assert client is not None


# ------------------------------------------------------ a spec too large for etcd (offload)

BIG_CHAIN = {
    "canvas": {"chain": [{"task": "m.add", "args": [1, 2]}, {"task": "m.mul", "args": [10]}]},
    "kwargs": {"padding": "x" * (INLINE_SPEC_LIMIT + 1)},
    "ttlSecondsAfterFinished": None,
}


def test_a_workflow_naming_an_uploaded_canvas_runs_it_and_keeps_a_copy(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            parts = split(BIG_CHAIN)
            assert parts is not None
            spec, text = parts
            await test.store.put_upload(NAMESPACE, CanvasRef.of(text).sha256, text, ttl=60)
            body = test.body("big", spec)
            uid = body["metadata"]["uid"]
            await test.conductor.admit(body)
            await test.conductor.drain()
            assert test.api.job_names() == ["big-t0-1"]
            graph = await test.store.graph(uid)
            assert graph is not None
            assert graph.kwargs == BIG_CHAIN["kwargs"]
            # The upload may expire now: the workflow has its own copy, until it is deleted.
            await test.store.client.delete(WorkflowKeys.upload(NAMESPACE, CanvasRef.of(text).sha256))
            assert await test.store.client.get(WorkflowKeys(uid).canvas) == text

            # `kubecanvas retry` names the same canvas: it is found with the workflow retried.
            retry = test.body("big-retry", spec)
            retry["metadata"]["annotations"] = {RETRY_OF_ANNOTATION: "big", RETRY_OF_UID_ANNOTATION: uid}
            await test.conductor.admit(retry)
            await test.conductor.drain()
            assert test.api.status("big-retry")["phase"] == "Running"
            assert "big-retry-t0-1" in test.api.job_names()

            await test.conductor.forget(uid)
            assert await test.store.client.exists(WorkflowKeys(uid).canvas) == 0

    run(scenario())


def test_a_canvas_never_uploaded_or_changed_fails_the_workflow_at_canvas_ref(redis_url: str) -> None:
    async def scenario() -> None:
        async with harness(redis_url) as test:
            parts = split(BIG_CHAIN)
            assert parts is not None
            spec, text = parts
            body = test.body("lost", spec)
            await test.conductor.admit(body)
            status = test.api.status("lost")
            assert status["phase"] == "Failed"
            assert status["problems"] == [
                f"spec.canvasRef: no canvas {CanvasRef.of(text)} was uploaded to namespace "
                f"'{NAMESPACE}', or it expired (an upload waits 3600 s for its Workflow): submit "
                "the workflow again with kubecanvas, which uploads it"
            ]
            # Stored under its digest, but not what the digest says: refused, never run.
            tampered = text.replace('"m.mul"', '"m.rm"')
            await test.store.put_upload(NAMESPACE, CanvasRef.of(text).sha256, tampered, ttl=60)
            body = test.body("tampered", spec)
            await test.conductor.admit(body)
            assert "it was changed" in test.api.status("tampered")["message"]
            assert test.api.jobs == {}

    run(scenario())
