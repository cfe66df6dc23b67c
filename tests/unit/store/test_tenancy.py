"""One Redis user per workflow, against a real redis-server: what a task pod authenticated
as its workflow's user can do (its own inputs and report) and cannot (any other workflow,
its own nodes, the stream's contents, the key space)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from kubecanvas.canvas.compiler import compile_spec
from kubecanvas.canvas.validation import parse_spec
from kubecanvas.errors import StoreReplyError
from kubecanvas.store.hostside import WorkflowStore, connect_async
from kubecanvas.store.layout import Outcome, WorkflowKeys, WorkflowMeta
from kubecanvas.store.taskside import TaskStore
from kubecanvas.store.tenancy import task_password, task_user
from kubecanvas.store.wire import Connection
from support.redis import redis_server

PASSWORD = "operator-s3cret"
KEY = b"the operator's key"
STREAM = "test:tenancy:events"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis"), password=PASSWORD) as (url, _):
        yield url


def admitted(redis_url: str, *uids: str) -> None:
    """Two workflows as the operator stores them, and their task users."""
    spec = parse_spec(
        {"canvas": {"chain": [{"task": "m.add", "args": [1, 2]}, {"task": "m.mul", "args": [3]}]}}
    )

    async def main() -> None:
        store = WorkflowStore(connect_async(redis_url), STREAM)
        try:
            for uid in uids:
                meta = WorkflowMeta(name=uid, namespace=f"ns-{uid}", parallelism=5, created_at=time.time())
                await store.create(uid, compile_spec(spec), meta)
                await store.grant_tasks(uid, task_password(KEY, uid))
        finally:
            await store.client.aclose()

    asyncio.run(main())


def as_task_of(redis_url: str, uid: str, password: str | None = None) -> Connection:
    host = redis_url.split("@", 1)[1].rsplit("/", 1)[0]
    secret = quote(password or task_password(KEY, uid), safe="")
    return Connection.from_url(f"redis://{quote(task_user(uid))}:{secret}@{host}/0", retry_for=1.0)


def test_a_task_reads_its_inputs_and_reports_as_its_workflows_user(redis_url: str) -> None:
    uid = f"a-{time.time_ns()}"
    admitted(redis_url, uid)
    store = TaskStore(as_task_of(redis_url, uid), uid, STREAM)
    inputs = store.load("t0")
    assert inputs.node.task == "m.add"
    store.record_start("t0", 1, [1, 2], {}, time.time())
    assert store.record_outcome("t0", 1, Outcome("succeeded", finished_at=time.time()), 3)
    assert store.load("t1").results == {"t0": 3}


def test_a_task_cannot_reach_another_workflow_or_choose_code(redis_url: str) -> None:
    mine, theirs = f"mine-{time.time_ns()}", f"theirs-{time.time_ns()}"
    admitted(redis_url, mine, theirs)
    task = as_task_of(redis_url, mine)
    other, own = WorkflowKeys(theirs), WorkflowKeys(mine)
    refused = {
        "read another workflow's node": ("HGET", other.nodes, "t0"),
        "read another workflow's results": ("HGET", other.results, "t0"),
        "rewrite another workflow's node": ("HSET", other.nodes, "t0", '{"task": "builtins.divmod"}'),
        "report for another workflow": ("HSETNX", other.outcomes, "t0#1", "{}"),
        "rewrite its own node (which code runs)": ("HSET", own.nodes, "t1", '{"task": "builtins.divmod"}'),
        "rewrite its own records": ("HSET", own.records, "t0", "{}"),
        "list the key space": ("SCAN", "0", "MATCH", "kc:*"),
        "list keys": ("KEYS", "*"),
        "read the shared stream": ("XRANGE", STREAM, "-", "+"),
        "delete anything": ("DEL", own.meta),
        "change users": ("ACL", "SETUSER", task_user(mine), "+@all"),
    }
    allowed = {
        what: reply for what, command in refused.items() if "NOPERM" not in (reply := _try(task, command))
    }
    assert allowed == {}, f"a task could: {allowed}"


def _try(connection: Connection, command: tuple[str, ...]) -> str:
    try:
        return repr(connection.execute(*command))
    except StoreReplyError as error:
        return str(error)


def test_a_wrong_password_or_a_revoked_user_cannot_connect(redis_url: str) -> None:
    uid = f"gone-{time.time_ns()}"
    admitted(redis_url, uid)
    with pytest.raises(StoreReplyError, match="WRONGPASS"):
        as_task_of(redis_url, uid, password="guessed").execute("PING")
    assert as_task_of(redis_url, uid).execute("PING") == "PONG"

    async def revoke() -> None:
        store = WorkflowStore(connect_async(redis_url), STREAM)
        try:
            await store.revoke_tasks(uid)
        finally:
            await store.client.aclose()

    asyncio.run(revoke())
    with pytest.raises(StoreReplyError, match="WRONGPASS"):
        as_task_of(redis_url, uid).execute("PING")


def test_passwords_differ_per_workflow_and_per_key() -> None:
    assert task_password(KEY, "a") != task_password(KEY, "b")
    assert task_password(KEY, "a") != task_password(b"another key", "a")
    assert task_password(KEY, "a") == task_password(KEY, "a")
