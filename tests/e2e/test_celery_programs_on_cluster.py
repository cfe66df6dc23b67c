"""Celery's example project (`tests/compat/programs/proj`), ported by changing its `celery`
imports, run unchanged on the cluster: its calls submit Workflows, its tasks run in pods
that pull the project from its git repository, and it gives what Celery 5.6 gave — as it
does on the local and eager back ends (tests/compat)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from compat.conftest import PROGRAMS, proj  # noqa: F401 - the fixture, shared
from e2e.conftest import served_git
from kubecanvas import group
from kubecanvas.client import AsyncResult, configure
from kubecanvas.client import settings as client_settings
from support.cluster import Cluster
from support.operator import Workflows


@pytest.fixture
def on_cluster(
    proj: object,  # noqa: F811 - the shared fixture
    cluster: Cluster,
    workflows: Workflows,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """The project served from git, the client pointed at the cluster, the app's back end
    `cluster` (as a deployed Celery program has its broker): the namespace."""
    files = {str(path.relative_to(PROGRAMS)): path.read_text() for path in PROGRAMS.rglob("*.py")}
    with served_git(cluster, tmp_path, files) as url:
        monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
        previous = client_settings._configured
        configure(
            redis_url=cluster.redis_url,
            namespace=workflows.namespace,
            code={"git": {"url": url, "ref": "v1"}},
        )
        from proj.celery import app

        app.conf.kubecanvas_backend = "cluster"
        try:
            yield workflows.namespace
        finally:
            client_settings._configured = previous


def test_celerys_example_project_gives_celerys_results_on_the_cluster(
    proj: object,  # noqa: F811 - the shared fixture
    on_cluster: str,
) -> None:
    assert proj.run() == proj.CELERY_GAVE  # type: ignore[attr-defined]


def test_a_task_registered_under_its_own_name_runs_in_its_pod(on_cluster: str, workflows: Workflows) -> None:
    """Celery's tasks guide, "Names": the pod imports the registering module (the Workflow's
    `spec.imports`, passed in the Job's environment) and finds `sum-of-two-numbers` there."""
    from proj.named import add, mul

    result = (add.s(1, 2) | mul.s(10)).delay()
    assert result.get(timeout=120) == 30
    assert workflows.get(result.name)["spec"]["imports"] == ["proj.tasks", "proj.named"]


def test_task_ids_on_the_cluster_are_unique_kept_through_retries_and_lead_back(on_cluster: str) -> None:
    from proj.errbacks import own_id

    first = group(own_id.s().set(env={"ERRORS_DIR": "/tmp"}) for _ in range(2))()
    again = group(own_id.s().set(env={"ERRORS_DIR": "/tmp"}) for _ in range(2))()
    ids, other_ids = first.get(timeout=120), again.get(timeout=120)
    assert len(set(ids) | set(other_ids)) == 4, "every task of every run has an id of its own"
    assert all(uuid.UUID(task_id).version == 4 for task_id in ids)
    assert [member.id for member in first.results] == ids, "the id the task saw after its retry"
    assert [task["attempts"] for task in first.document()["tasks"]] == [2, 2]
    found = AsyncResult(ids[1], on_cluster)
    assert (found.name, found.get(timeout=10)) == (first.name, ids[1])


def test_a_task_id_given_with_task_id_is_the_tasks_on_the_cluster_and_leads_back(on_cluster: str) -> None:
    from proj.errbacks import own_id

    chosen = str(uuid.uuid4())
    result = own_id.s().set(env={"ERRORS_DIR": "/tmp"}).apply_async(task_id=chosen)
    assert result.id == chosen
    assert result.get(timeout=120) == chosen, "self.request.id in the pod, after its retry"
    found = AsyncResult(chosen, on_cluster)
    assert (found.name, found.id, found.get(timeout=10)) == (result.name, chosen, chosen)
