"""HA: replicas elect one leader with a Lease on the real API server."""

from __future__ import annotations

import asyncio

import pytest

from kubecanvas_operator.kube import KubeApi
from kubecanvas_operator.leadership import LeadershipLost, LeaseElection
from support.cluster import Cluster


def election(api: KubeApi, namespace: str, identity: str, **timing: float) -> LeaseElection:
    return LeaseElection(api, namespace, "kubecanvas-operator", identity, **timing)  # type: ignore[arg-type]


@pytest.fixture
def api(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> KubeApi:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return KubeApi(concurrency=4)


def test_one_replica_leads_and_a_standby_takes_over_when_it_leaves(api: KubeApi, namespace: str) -> None:
    async def scenario() -> None:
        first = election(api, namespace, "replica-a", lease_seconds=2, retry_every=0.1)
        second = election(api, namespace, "replica-b", lease_seconds=2, retry_every=0.1)
        await first.acquire()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(second.acquire(), timeout=1.0)  # the lease is held and fresh
        await first.release()
        await asyncio.wait_for(second.acquire(), timeout=2.0)  # released: taken over at once
        # The new leader stops renewing (it crashed): the other takes over once it expires.
        await asyncio.wait_for(first.acquire(), timeout=6.0)

    asyncio.run(scenario())


def test_a_leader_whose_lease_is_taken_stops(api: KubeApi, namespace: str) -> None:
    async def scenario() -> None:
        leader = election(api, namespace, "replica-a", lease_seconds=1, renew_every=0.2, retry_every=0.1)
        usurper = election(api, namespace, "replica-b", lease_seconds=30, retry_every=0.1)
        await leader.acquire()
        await asyncio.sleep(1.5)  # the leader does not renew: its lease expires
        await usurper.acquire()
        with pytest.raises(LeadershipLost, match="taken by another replica"):
            await asyncio.wait_for(leader.keep(), timeout=5.0)

    asyncio.run(scenario())
