"""End-to-end fixtures: the real operator running against the local cluster."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest

from support.cluster import Cluster
from support.operator import OperatorProcess, Workflows, task_cluster_role
from support.waiting import wait_until

EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="session")
def operator(cluster: Cluster) -> Iterator[OperatorProcess]:
    """One operator for the session (tests that kill it start it again)."""
    cluster.kubectl("apply", "-f", str((cluster.root / "crds").resolve()))
    cluster.kubectl("apply", "-f", "-", input=task_cluster_role(cluster))
    process = OperatorProcess(cluster, log_path=cluster.root / ".cluster/logs/operator-e2e.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def workflows(cluster: Cluster, operator: OperatorProcess, namespace: str) -> Workflows:
    """Workflows in this test's namespace, with the contract's tasks in a ConfigMap `conftasks`."""
    if operator.process is None:
        operator.start()
    helper = Workflows(cluster, namespace)
    helper.config_map_from("conftasks", [EXAMPLES / "conftasks.py"])
    return helper


@pytest.fixture
def http_port(operator: OperatorProcess) -> int:
    """The operator's HTTP API (metrics, workflow documents), answering."""
    if operator.process is None:
        operator.start()

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{operator.http_port}/healthz", timeout=2):
                return True
        except OSError:
            return False

    wait_until(answers, timeout=30, what="the operator's HTTP API")
    return operator.http_port


CONFTASKS = {"configMap": {"name": "conftasks"}}
