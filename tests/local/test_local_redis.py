"""`kubecanvas run --redis URL`: the local runner keeps the workflow where the operator
would, so what it wrote can be read back by the operator's own loader."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubecanvas.errors import StoreConnectionError, StoreError
from kubecanvas.local import LocalRunner
from kubecanvas.local.stores import open_store
from kubecanvas.report.document import workflow_document
from kubecanvas.store.hostside import WorkflowStore
from kubecanvas.store.layout import WorkflowKeys
from local.helpers import EXAMPLES, HERE, workflow
from support.redis import free_port, redis_server

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as (url, _):
        yield url


def test_a_local_run_in_redis_reads_back_as_the_operator_would(redis_url: str) -> None:
    flow = workflow(
        {
            "chord": {
                "header": [{"task": "conftasks.add", "args": [i, i]} for i in range(3)],
                "body": {"task": "conftasks.tsum"},
            }
        },
        name="in-redis",
        ttlSecondsAfterFinished=600,
    )

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], float]:
        async with open_store(redis_url) as store:
            runner = LocalRunner(flow, code_dir=EXAMPLES, store=store)
            document = dict(await runner.run())
            assert isinstance(store, WorkflowStore)
            persisted = await store.load(runner.uid)
            assert persisted is not None
            results = await store.results(runner.uid)
            reread = dict(
                workflow_document(
                    "in-redis", persisted.engine(), results, await store.calls(runner.uid), uid=runner.uid
                )
            )
            ttl = await store.client.ttl(WorkflowKeys(runner.uid).results)
            return document, reread, ttl

    document, reread, ttl = asyncio.run(scenario())
    assert document["result"] == 6
    assert reread == document
    assert 0 < ttl <= 600


def test_an_unreachable_redis_is_one_clear_error() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"

    async def scenario() -> None:
        async with open_store(url):
            pass

    with pytest.raises(StoreConnectionError, match=r"cannot reach Redis at redis://127\.0\.0\.1"):
        asyncio.run(scenario())


def test_redis_going_away_mid_run_stops_the_run_with_one_clear_error(tmp_path: Path) -> None:
    flow = workflow({"chain": [{"task": "localtasks.napping", "args": [1.0]}, {"task": "localtasks.whoami"}]})

    async def scenario(url: str, server: subprocess.Popen[bytes]) -> None:
        async with open_store(url) as store:
            runner = LocalRunner(flow, code_dir=HERE, store=store)
            asyncio.get_running_loop().call_later(0.3, server.kill)
            await runner.run()

    with (
        redis_server(tmp_path) as (url, server),
        pytest.raises(StoreError, match=r"Redis at .* failed"),
    ):
        asyncio.run(scenario(url, server))
