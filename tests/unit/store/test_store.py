"""The store against a real redis-server: the pod's minimal client and the operator's
redis-py side must agree on every key and event."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from kubecanvas.canvas.compiler import compile_spec
from kubecanvas.canvas.validation import parse_spec
from kubecanvas.engine.events import Start, Started, Succeeded
from kubecanvas.engine.states import Phase, TaskFailure, TaskState
from kubecanvas.errors import StateLostError, StoreConnectionError, StoreReplyError
from kubecanvas.store.hostside import WorkflowStore, connect_async
from kubecanvas.store.layout import Outcome, WorkflowKeys, WorkflowMeta
from kubecanvas.store.taskside import TaskStore, connect
from kubecanvas.store.wire import Connection
from support.redis import burst, free_port, redis_server

PASSWORD = "s3cret"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server with a password, as production ones have; database 2."""
    with redis_server(tmp_path_factory.mktemp("redis"), password=PASSWORD, db=2) as (url, _):
        yield url


def test_commands_pipelines_and_transactions(redis_url: str) -> None:
    connection = Connection.from_url(redis_url)
    try:
        assert connection.execute("SET", "k", "välue") == "OK"
        assert connection.execute("GET", "k") == "välue"  # UTF-8 both ways
        assert connection.pipeline([("HSET", "h", "a", "1"), ("HGET", "h", "a"), ("HGET", "h", "x")]) == [
            1,
            "1",
            None,
        ]
        assert connection.pipeline([("HSETNX", "h", "a", "2"), ("HGETALL", "h")], transaction=True) == [
            0,
            ["a", "1"],
        ]
        assert connection.execute("INCRBY", "n", 5) == 5
        with pytest.raises(StoreReplyError, match="WRONGTYPE"):
            connection.execute("HGET", "k", "field")
        assert connection.execute("CLIENT", "INFO").count("db=2") == 1  # the URL's database
    finally:
        connection.close()


def test_a_wrong_password_is_a_clear_error(redis_url: str) -> None:
    # Refused credentials are retried a while (a restarted Redis forgets a workflow's user
    # until the operator grants it again), then reported as Redis said it.
    connection = Connection.from_url(redis_url.replace(PASSWORD, "nope"), retry_for=0.5)
    with pytest.raises(StoreReplyError, match=r"WRONGPASS.*attempts in 0.5s"):
        connection.execute("PING")


def test_an_unreachable_redis_is_retried_then_reported() -> None:
    connection = Connection.from_url(f"redis://127.0.0.1:{free_port()}/0", retry_for=0.5)
    started = time.monotonic()
    with pytest.raises(StoreConnectionError, match=r"after 4 attempts in 0\.5s"):
        connection.execute("PING")
    # it waited between attempts (0.05, 0.1, 0.2 s) and gave up at its budget, not later
    assert 0.3 <= time.monotonic() - started < 2.0


def test_the_pod_and_the_operator_agree_on_the_layout(redis_url: str) -> None:
    """What the runtime writes (minimal client) is what the operator reads (redis-py)."""
    spec = parse_spec(
        {"canvas": {"chain": [{"task": "m.add", "args": [1, 2]}, {"task": "m.mul", "args": [10]}]}}
    )
    graph = compile_spec(spec)
    uid = f"uid-{time.time_ns()}"
    stream = f"test:events:{uid}"

    async def create() -> None:
        store = WorkflowStore(connect_async(redis_url), stream)
        assert await store.create(uid, graph, WorkflowMeta(name="w", namespace="ns"))
        assert not await store.create(uid, graph, WorkflowMeta(name="w", namespace="ns"))  # never reset
        await store.client.hset(WorkflowKeys(uid).results, "t0", "3")
        await store.ensure_group("operator")
        await store.client.aclose()

    asyncio.run(create())
    pod = TaskStore(connect(redis_url), uid, stream)
    inputs = pod.load("t1")
    assert inputs.node.task == "m.mul"
    assert inputs.results == {"t0": 3}
    pod.record_start("t1", 1, [3, 10], {}, at=100.0)
    assert pod.record_outcome("t1", 1, Outcome("succeeded", finished_at=101.0), 30)
    assert not pod.record_outcome(
        "t1", 1, Outcome("failed", error=TaskFailure("X", "late")), 99
    )  # written once
    pod.client.close()

    async def read() -> None:
        store = WorkflowStore(connect_async(redis_url), stream)
        events = await store.read_events("operator", "me", block_ms=100)
        assert [(event.task_id, event.kind) for event in events] == [
            ("t1", "started"),
            ("t1", "succeeded"),
            ("t1", "failed"),  # a duplicate report is announced, and ignored by the engine
        ]
        assert events[1].outcome is not None
        assert events[1].outcome.finished_at == 101.0
        assert await store.results(uid) == {"t0": 3, "t1": 30}
        assert (await store.calls(uid))["t1"] == {"args": [3, 10], "kwargs": {}}
        outcome = await store.outcome(uid, "t1", 1)
        assert outcome is not None
        assert outcome.kind == "succeeded"
        await store.ack("operator", [event.stream_id for event in events])
        assert await store.read_events("operator", "me", pending=True) == []
        await store.delete(uid)
        assert not await store.exists(uid)
        await store.client.aclose()

    asyncio.run(read())


def test_an_idle_operator_waits_for_news_without_timing_out(redis_url: str) -> None:
    """A blocking read of the events stream outlives redis-py's default socket timeout
    (5 s, the same as the block): an idle operator must not error, back off, and hear
    the next news late."""

    async def idle() -> list[object]:
        store = WorkflowStore(connect_async(redis_url), f"test:idle:{time.time_ns()}")
        try:
            await store.ensure_group("operator")
            return list(await store.read_events("operator", "me"))  # the production block time
        finally:
            await store.client.aclose()

    assert asyncio.run(idle()) == []


def test_meta_is_a_typed_record_and_reads_what_earlier_versions_wrote() -> None:
    meta = WorkflowMeta(
        name="w", namespace="ns", parallelism=7, code={"git": {"url": "u"}}, ttl=60, created_at=1.5
    )
    assert WorkflowMeta.from_fields(meta.to_fields()) == meta
    legacy = {"name": "w", "namespace": "ns", "parallelism": "50", "code": "null", "ttl": "null"}
    read = WorkflowMeta.from_fields(legacy)
    assert (read.code, read.ttl, read.phase) == (None, None, Phase.PENDING)


def test_the_store_answers_what_hosts_and_clients_ask(redis_url: str) -> None:
    """The reads and copies that used to be pipelines outside the store: a client's view,
    `kubecanvas retry`'s copy of succeeded tasks, the sweep's list, the end announcement."""
    graph = compile_spec(parse_spec({"canvas": {"chain": [{"task": "m.a"}, {"task": "m.b"}]}}))
    old, new = f"old-{time.time_ns()}", f"new-{time.time_ns()}"

    async def scenario() -> None:
        store = WorkflowStore(connect_async(redis_url), f"test:events:{old}")
        try:
            assert await store.view(old, ["t0"]) == (None, {})
            await store.create(old, graph, WorkflowMeta(name="old", namespace="ns", created_at=5.0))
            engine = (await store.load(old)).engine()  # type: ignore[union-attr]
            engine.feed(Start(10.0))
            engine.feed(Started("t0", 1, 11.0))
            engine.feed(Succeeded("t0", 1, 12.0))
            await store.save_step(old, engine, ["t0", "t1"], [])
            await store.put_outcome(old, "t0", 1, Outcome("succeeded"), value=42, call={"args": []})
            phase, records = await store.view(old, ["t0", "t1"])
            assert phase == Phase.RUNNING
            assert records["t0"].state == TaskState.SUCCESS
            assert records["t1"].launched

            await store.create(new, graph, WorkflowMeta(name="new", namespace="ns"))
            assert await store.copy_succeeded(old, new, ["t0", "gone"]) == ["t0"]
            assert await store.results(new) == {"t0": 42}
            copied = (await store.load(new)).records["t0"]  # type: ignore[union-attr]
            assert copied.state == TaskState.SUCCESS
            assert not copied.launched

            listed = {uid: meta async for uid, meta in store.workflows()}
            assert listed[old].name == "old"
            assert listed[old].created_at == 5.0
            assert listed[old].phase == Phase.RUNNING

            pubsub = store.client.pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe(WorkflowKeys(old).finished_channel)
            await store.announce_finished(old, Phase.SUCCEEDED)
            message = None
            for _ in range(20):
                message = await pubsub.get_message(timeout=0.5)
                if message is not None:
                    break
            assert message is not None
            assert message["data"] == "Succeeded"
            await pubsub.aclose()
        finally:
            await store.delete(old)
            await store.delete(new)
            await store.client.aclose()

    asyncio.run(scenario())


def test_a_step_of_a_workflow_whose_state_was_flushed_is_refused_and_leaves_nothing(redis_url: str) -> None:
    """A flushed Redis must not get half a workflow back from the next step (a meta hash and a
    few records, no graph): that would read as a workflow, and never as one that can run."""
    graph = compile_spec(parse_spec({"canvas": {"task": "m.a"}}))
    uid = f"flushed-{time.time_ns()}"

    async def scenario() -> None:
        store = WorkflowStore(connect_async(redis_url), f"test:events:{uid}")
        try:
            await store.create(uid, graph, WorkflowMeta(name="flushed", namespace="ns"))
            engine = (await store.load(uid)).engine()  # type: ignore[union-attr]
            assert await store.exists(uid)
            await store.client.delete(*WorkflowKeys(uid).all())  # FLUSHALL, for this workflow
            engine.feed(Start(10.0))
            with pytest.raises(StateLostError, match=uid):
                await store.save_step(uid, engine, ["t0"], [])
            assert await store.client.exists(*WorkflowKeys(uid).all()) == 0
            assert not await store.exists(uid)
        finally:
            await store.client.aclose()

    asyncio.run(scenario())


def test_the_operators_client_waits_for_a_free_connection_rather_than_failing(redis_url: str) -> None:
    """Past redis-py's default pool (100 in use: `Too many connections`), as a burst of
    Workflows created at once once reached, each admission failing until kopf's retry."""
    from kubecanvas.store.hostside import POOL_SIZE

    assert burst(redis_url, POOL_SIZE + 50) == [None] * (POOL_SIZE + 50)


def test_an_uploaded_canvas_waits_its_ttl_and_a_kept_one_goes_with_its_workflow(redis_url: str) -> None:
    """canvas/offload.py: an upload expires on its own; the copy an admitted workflow keeps
    is found first, and expires or is deleted with the workflow's other keys."""
    uid = f"big-{time.time_ns()}"
    graph = compile_spec(parse_spec({"canvas": {"task": "m.a"}}))

    async def scenario() -> None:
        store = WorkflowStore(connect_async(redis_url), f"test:events:{uid}")
        try:
            await store.put_upload("team", "ab" * 32, '{"canvas":{"task":"m.a"}}', ttl=1)
            assert 0 < await store.client.ttl(WorkflowKeys.upload("team", "ab" * 32)) <= 1
            assert await store.find_canvas("team", "ab" * 32, [uid]) == '{"canvas":{"task":"m.a"}}'
            assert await store.find_canvas("other", "ab" * 32, [uid]) is None  # per namespace
            await store.keep_canvas(uid, "kept")
            await store.create(uid, graph, WorkflowMeta(name="big", namespace="team"))
            assert await store.find_canvas("team", "ab" * 32, ["gone", uid]) == "kept"
            await asyncio.sleep(1.2)
            assert await store.find_canvas("team", "ab" * 32, []) is None  # the upload expired
            await store.expire(uid, 100)
            assert 0 < await store.client.ttl(WorkflowKeys(uid).canvas) <= 100
            await store.delete(uid)
            assert await store.find_canvas("team", "ab" * 32, [uid]) is None
        finally:
            await store.client.aclose()

    asyncio.run(scenario())
