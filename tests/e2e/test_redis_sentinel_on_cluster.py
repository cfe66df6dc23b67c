"""Redis behind Sentinel, on the local cluster: the operator and the task pods are given only
the Sentinel's address (`redis+sentinel://`, as `redis.external.url` of the chart), and a
workflow under way rides out its master's death (SIGKILL, as a lost node): the Sentinel
promotes the replica, both sides ask it again where the master is, the operator grants the
task pods' Redis users again on the new master (ACL users are not replicated), and the
workflow Succeeds with its exact result.

The master, replica and Sentinel are real redis-server processes on the node's address, which
the pods reach over the CNI bridge (as they reach the local cluster's own Redis).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from e2e.conftest import EXAMPLES
from e2e.test_operator import sig, workflow
from support.cluster import Cluster
from support.operator import OperatorProcess, Workflows
from support.redis import sentinel_setup

SIZE = 24


# `s-...`: a namespace the suite's own operator (watching `t-*`) never serves.
@pytest.mark.parametrize("namespace_prefix", ["s"])
def test_a_workflow_rides_out_its_redis_master_failing_over(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    with sentinel_setup(tmp_path, cluster.env["KUBECANVAS_NODE_IP"]) as setup:
        behind_sentinel = OperatorProcess(
            cluster,
            log_path=cluster.root / ".cluster/logs/operator-sentinel-e2e.log",
            env={"KUBECANVAS_REDIS_URL": setup["url"]},
            namespaces=(namespace,),
        )
        behind_sentinel.start()
        try:
            workflows = Workflows(cluster, namespace, redis_url=setup["url"])
            workflows.config_map_from("conftasks", [EXAMPLES / "conftasks.py"])
            header = [sig("sleep", 1, retries={"max": 3}) for _ in range(SIZE)]
            canvas = {"chord": {"header": header, "body": sig("tsum", retries={"max": 3})}}
            name = workflows.apply(workflow("failover", canvas, parallelism=6))

            def done() -> int:
                progress = str((workflows.get(name).get("status") or {}).get("progress") or "0/1")
                return int(progress.split("/", maxsplit=1)[0])

            deadline = time.monotonic() + 180
            while done() < SIZE // 3:
                assert time.monotonic() < deadline, workflows.get(name).get("status")
                time.sleep(0.2)
            os.kill(setup["master"].pid, signal.SIGKILL)  # the master's node is gone
            setup["master"].wait()
            killed = time.monotonic()

            status = workflows.wait_finished(name, timeout=300)["status"]
            assert (status["phase"], status.get("result")) == ("Succeeded", SIZE), status
            tasks = workflows.document(name)["tasks"]
            assert [task["state"] for task in tasks] == ["SUCCESS"] * (SIZE + 1)
            attempts = sorted(int(task["attempts"]) for task in tasks)
            took = time.monotonic() - killed
            print(f"\nfailover: the workflow finished {took:.1f} s after the kill; attempts {attempts}")
            assert behind_sentinel.process is not None
            assert behind_sentinel.process.poll() is None, "the operator exited"
        finally:
            behind_sentinel.stop()
