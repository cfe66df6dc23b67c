"""Every public case of the contract on the cluster: `kubectl apply -f examples/contract/...`,
checked through the Workflow's status and the document `kubecanvas get -o json` prints,
against the same table as the local runner (tests/contract/cases.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest

from contract.cases import CASES, Case, Observed, verify
from e2e.conftest import EXAMPLES
from support.cluster import Cluster
from support.operator import OperatorProcess, Workflows
from support.waiting import wait_until


@pytest.fixture(scope="module")
def contract(cluster: Cluster, operator: OperatorProcess) -> Iterator[Workflows]:
    """All the contract cases applied at once in one namespace, as a user would submit them."""
    namespace = f"t-contract-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    workflows = Workflows(cluster, namespace)
    wait_until(
        lambda: "default" in cluster.kubectl("get", "serviceaccounts", "-n", namespace, "-o", "name"),
        timeout=30,
        what=f"the default ServiceAccount in {namespace}",
    )
    workflows.config_map_from("conftasks", [EXAMPLES / "conftasks.py"])
    for case in CASES:
        if case.revoke_after is None:  # a case revoked N s after its start is applied by its test
            cluster.kubectl("apply", "-n", namespace, "-f", str(case.path))
    yield workflows
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_contract_case_on_the_cluster(case: Case, contract: Workflows) -> None:
    if case.revoke_after is not None:
        contract.cluster.kubectl("apply", "-n", contract.namespace, "-f", str(case.path))
        wait_until(
            lambda: any(task["state"] == "STARTED" for task in contract.document(case.name)["tasks"]),
            timeout=120,
            what=f"{case.name}'s task to start",
        )
        started = _started_at(contract.get(case.name))
        time.sleep(max(0.0, started + case.revoke_after - time.time()))  # the case says: revoke after N s
        contract.cluster.kubectl(
            "patch",
            "workflow",
            case.name,
            "-n",
            contract.namespace,
            "--type=merge",
            "-p",
            '{"spec":{"revoke":true}}',
        )
    body = contract.wait_finished(case.name, timeout=300)
    observed = Observed(contract.document(case.name), _started_at(body))
    verify(case, observed)
    assert body["status"]["phase"] == observed.document["phase"]
    if observed.document["phase"] == "Succeeded":
        assert body["status"]["result"] == observed.document["result"]
    if case.revoke_after is not None:
        wait_until(
            lambda: not contract.jobs(case.name) and not contract.pods(case.name),
            timeout=60,
            what=f"{case.name}'s Job and pod to be gone",
        )


def _started_at(body: dict[str, object]) -> float:
    started = str((body.get("status") or {}).get("startedAt"))  # type: ignore[union-attr]
    return datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp()
