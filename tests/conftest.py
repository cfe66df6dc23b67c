"""Shared fixtures: the real local cluster, a fresh namespace per test, and wait_until.

Tests under tests/cluster/ and tests/e2e/ are marked `cluster` automatically, so
`pytest -m 'not cluster'` (make unit) runs without a cluster.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.chaos import Report, report_directory
from support.cluster import ROOT, STATE, Cluster, build_images, cluster_command, preload_images, read_env
from support.waiting import wait_until

__all__ = ["wait_until"]

_CLUSTER_DIRS = ("cluster", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests_root = Path(__file__).parent
    for item in items:
        parts = Path(item.path).relative_to(tests_root).parts
        if parts and parts[0] in _CLUSTER_DIRS:
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The local cluster: reused if it is up and healthy, else started, and then stopped at the end."""
    started = cluster_command("status", check=False).returncode != 0
    if started:
        result = cluster_command("up", check=False)
        if result.returncode != 0:
            pytest.fail(f"hack/cluster.py up failed:\n{result.stdout}\n{result.stderr}")
    build_images()
    from kubernetes import config

    env = read_env()
    kubeconfig = STATE / "kubeconfig"
    api = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        local = Cluster(
            root=ROOT, kubeconfig=kubeconfig, redis_url=env["KUBECANVAS_REDIS_URL"], env=env, api=api
        )
        preload_images(local)
        yield local
    finally:
        api.close()
        if started:
            cluster_command("down", check=False)


@pytest.fixture(scope="session")
def chaos_report() -> Iterator[Report]:
    """The fault suite's rows, from every test file that has a scenario, in one report."""
    collected = Report()
    yield collected
    if collected.rows:
        target = report_directory()
        collected.write(target)
        print(f"\nchaos report: {target / 'report.md'}")


@pytest.fixture
def namespace_prefix() -> str:
    """Test namespaces are `t-...`: the e2e suite's operator watches `t-*` only, so that the
    chart's own operators (in `c-...` namespaces, tests/chart) never race it for a Workflow."""
    return "t"


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest, namespace_prefix: str) -> Iterator[str]:
    """A fresh namespace for one test, ready for pods (default ServiceAccount and root CA present)."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{namespace_prefix}-{slug}-{uuid.uuid4().hex[:6]}"
    from kubernetes import client

    core = client.CoreV1Api(cluster.api)
    core.create_namespace({"metadata": {"name": name}})

    def ready() -> bool:
        core.read_namespaced_service_account("default", name)
        core.read_namespaced_config_map("kube-root-ca.crt", name)
        return True

    wait_until(ready, timeout=30, what=f"the default ServiceAccount and kube-root-ca.crt in namespace {name}")
    yield name
    try:
        core.delete_namespace(name)
    except client.ApiException as error:
        if error.status != 404:  # a test that restarted the cluster wiped it already
            raise
