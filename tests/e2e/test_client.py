"""The Python client against the real cluster: `apply_async` / `delay` return results
backed by Redis, as Celery's do, and `get()` waits on Redis notifications."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from e2e.conftest import CONFTASKS
from kubecanvas import KubecanvasError, TaskRevokedError, chord, group, task
from kubecanvas.client import AsyncResult, GroupResult, ResultTimeoutError, configure, retry
from kubecanvas.client import settings as client_settings
from kubecanvas.client.notifications import SAFETY_INTERVAL
from support.cluster import Cluster
from support.operator import Workflows
from support.waiting import wait_until


class ExpectedException(Exception):
    """Stands in here for conftasks.ExpectedException, which the client rebuilds by class."""


# The contract's tasks, by name: the pods import them from the `conftasks` ConfigMap.
@task(name="conftasks.add")
def add(x: Any, y: Any, z: Any = None) -> Any:
    return x + y if z is None else x + y + z


@task(name="conftasks.mul")
def mul(x: Any, y: Any) -> Any:
    return x * y


@task(name="conftasks.tsum")
def tsum(nums: list[Any]) -> Any:
    return sum(nums)


@task(name="conftasks.fail")
def fail(*args: Any) -> None:
    raise ExpectedException("Task expected to fail")


@task(name="conftasks.sleep")
def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pytest.fixture
def ns(cluster: Cluster, workflows: Workflows, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The test's namespace, with the client configured for the cluster (and reset after)."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    monkeypatch.delenv("KUBECANVAS_REDIS_URL", raising=False)
    monkeypatch.syspath_prepend(str(cluster.root / "examples"))  # conftasks.ExpectedException, rebuilt
    previous = client_settings._configured
    configure(redis_url=cluster.redis_url)
    yield workflows.namespace
    client_settings._configured = previous


def test_a_chain_result_and_its_parent(ns: str, workflows: Workflows) -> None:
    res = (add.s(2, 2) | mul.s(10)).apply_async(namespace=ns, code=CONFTASKS)
    assert isinstance(res, AsyncResult)
    assert res.id == res.name
    assert res.namespace == ns
    assert res.state in ("PENDING", "STARTED")
    assert res.get(timeout=60) == 40
    assert res.ready()
    assert res.successful()
    assert not res.failed()
    assert res.state == "SUCCESS"
    assert res.result == 40
    assert res.traceback is None
    parent = res.parent
    assert isinstance(parent, AsyncResult)
    tasks = res.document()["tasks"]
    assert parent.id == tasks[0]["uuid"], "a task's result has the task's own id (request.id)"
    assert parent.get(timeout=5) == 4
    assert parent.parent is None
    assert parent.children == [AsyncResult(f"{res.name}/t1", ns)]
    assert AsyncResult(tasks[1]["uuid"], ns) == AsyncResult(f"{res.name}/t1", ns)
    assert AsyncResult(parent.id, ns).get() == 4, "a task's own id finds it in its namespace"
    assert res.document()["tasks"][1]["args"] == [4, 10]
    assert workflows.get(res.name)["status"]["phase"] == "Succeeded"


def test_get_waits_on_notifications_not_polling(ns: str) -> None:
    res = sleep.apply_async((2,), namespace=ns, code=CONFTASKS)
    wait_until(lambda: res.state == "STARTED", timeout=60, what="the task to start")
    started = time.monotonic()
    assert res.get(timeout=60) == 2
    waited = time.monotonic() - started
    assert waited < SAFETY_INTERVAL - 0.5  # woken by news, not by the fallback re-read


def test_get_raises_the_root_cause_by_class_or_returns_it(ns: str) -> None:
    import conftasks

    res = (add.s(1, 2) | fail.s() | add.s(3)).apply_async(namespace=ns, code=CONFTASKS)
    with pytest.raises(conftasks.ExpectedException, match="Task expected to fail"):
        res.get(timeout=60)
    assert res.state == "FAILURE"
    assert res.failed()
    assert not res.successful()
    error = res.get(propagate=False)
    assert isinstance(error, conftasks.ExpectedException)
    assert isinstance(res.result, conftasks.ExpectedException)
    assert res.traceback is not None
    assert "raise ExpectedException" in res.traceback
    last = AsyncResult(f"{res.name}/t2", ns)
    assert last.state == "REVOKED"  # never ran: its parent failed
    with pytest.raises(TaskRevokedError, match="not run: t1"):
        last.get(timeout=5)


def test_get_times_out(ns: str) -> None:
    res = sleep.apply_async((30,), namespace=ns, code=CONFTASKS)
    started = time.monotonic()
    with pytest.raises(ResultTimeoutError, match="timed out"):
        res.get(timeout=1.5)
    assert 1.5 <= time.monotonic() - started < 10
    with pytest.raises(TimeoutError):  # Celery's TimeoutError is caught as the built-in too
        res.get(timeout=0.1)
    res.revoke()


def test_revoke_ends_the_workflow_and_get_raises_revoked(ns: str, workflows: Workflows) -> None:
    res = sleep.apply_async((60,), namespace=ns, code=CONFTASKS)
    wait_until(lambda: res.state == "STARTED", timeout=60, what="the task to start")
    res.revoke()
    started = time.monotonic()
    with pytest.raises(TaskRevokedError):
        res.get(timeout=30)
    assert time.monotonic() - started < SAFETY_INTERVAL  # the operator announced the end
    assert res.state == "REVOKED"
    assert not res.failed()
    assert workflows.get(res.name)["status"]["phase"] == "Revoked"


def test_delay_submits_a_one_task_workflow(ns: str, workflows: Workflows) -> None:
    configure(namespace=ns, code=CONFTASKS)  # delay() takes neither; the Redis URL stays
    res = add.delay(20, 22)
    assert res.namespace == ns
    assert res.get(timeout=60) == 42
    assert [task["task"] for task in res.document()["tasks"]] == ["conftasks.add"]
    assert workflows.get(res.name)["spec"] == {
        "canvas": {"task": "conftasks.add"},
        "args": [20, 22],
        "code": CONFTASKS,
    }


def test_a_group_result(ns: str) -> None:
    res = group(add.s(1, 1), sleep.s(2), fail.s(), add.s(3, 3)).apply_async(namespace=ns, code=CONFTASKS)
    assert isinstance(res, GroupResult)
    assert len(res) == 4
    assert res.children == res.results
    assert res.waiting()
    assert not res.ready()
    import conftasks

    with pytest.raises(conftasks.ExpectedException):
        res.join(timeout=60)
    assert res.ready()
    assert not res.waiting()
    assert res.completed_count() == 3
    assert res.failed()
    assert not res.successful()
    values = res.join(propagate=False)
    assert values[:2] == [2, 2]
    assert isinstance(values[2], conftasks.ExpectedException)
    assert values[3] == 6
    assert res[3].get() == 6
    assert [member.id for member in res.results] == [task["uuid"] for task in res.document()["tasks"]]
    with pytest.raises(conftasks.ExpectedException):
        res.get(timeout=5)  # the workflow's own value: its root cause


def test_a_successful_group_and_a_chord(ns: str) -> None:
    res = group(add.s(i, i) for i in range(5)).apply_async(namespace=ns, code=CONFTASKS)
    assert res.get(timeout=60) == [0, 2, 4, 6, 8]
    assert res.join(timeout=5) == [0, 2, 4, 6, 8]
    assert res.successful()
    assert res.completed_count() == 5
    body = chord([add.s(1, 1), add.s(2, 2)], tsum.s()).apply_async(namespace=ns, code=CONFTASKS)
    assert isinstance(body, AsyncResult)
    assert body.get(timeout=60) == 6
    header = body.parent
    assert isinstance(header, GroupResult)
    assert header.join() == [2, 4]


def test_a_result_by_id_and_retry_from_python(ns: str, workflows: Workflows) -> None:
    import conftasks

    failed = group(add.s(1, 1), fail.s()).apply_async(namespace=ns, code=CONFTASKS)
    with pytest.raises(conftasks.ExpectedException):
        failed.get(timeout=60)
    again = AsyncResult(failed.id, ns)
    assert isinstance(again.get(propagate=False), conftasks.ExpectedException)
    assert AsyncResult(f"{failed.id}/t0", ns).get() == 2
    retried = retry(failed.id, ns)
    assert isinstance(retried, GroupResult)
    assert retried.id.startswith(f"{failed.id}-retry-")
    with pytest.raises(conftasks.ExpectedException):
        retried.get(timeout=60)
    tasks = workflows.document(retried.id)["tasks"]
    assert tasks[0]["startedAt"] == workflows.document(failed.id)["tasks"][0]["startedAt"]  # reused
    assert tasks[1]["startedAt"] != workflows.document(failed.id)["tasks"][1]["startedAt"]  # rerun


def test_without_redis_the_client_says_what_to_set(ns: str) -> None:
    client_settings._configured = client_settings.ClientSettings()
    res = add.apply_async((1, 1), namespace=ns, code=CONFTASKS)  # submitting needs no Redis
    with pytest.raises(KubecanvasError, match="reading results needs Redis: set KUBECANVAS_REDIS_URL"):
        res.get(timeout=5)


def test_celerys_json_values_cross_the_cluster_as_their_types(ns: str) -> None:
    """Decimal, UUID and bytes go into pods and come back as themselves (Celery's envelopes):
    a chord of Decimals sums exactly, where floats would not."""
    header = [add.s(Decimal("0.1"), Decimal("0.2")), add.s(Decimal("1"), Decimal("2"))]
    exact = chord(header, tsum.s()).apply_async(namespace=ns, code=CONFTASKS)
    ident = uuid.UUID("2f0c6d2e-4f8b-4a8e-9b39-1c1f7c2a3d4e")
    mixed = add.apply_async(([ident], [b"\x00\xff", b"text"]), namespace=ns, code=CONFTASKS)
    assert exact.get(timeout=120) == Decimal("3.3")
    assert mixed.get(timeout=120) == [ident, b"\x00\xff", b"text"]
