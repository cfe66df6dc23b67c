"""Celery programs ported by changing `celery` imports to `kubecanvas` ones, run unchanged,
giving Celery's results: with the local back end (a process per task, no cluster, no Redis)
and eagerly (`task_always_eager`). `programs/proj` is Celery's own example project."""

from __future__ import annotations

import pytest

import kubecanvas.sdk.app as apps
from kubecanvas import ClusterError, ConfigurationError


@pytest.mark.parametrize("backend", ["local", "eager"])
def test_celerys_example_project_gives_celerys_results(proj: object, backend: str) -> None:
    from proj.celery import app

    app.conf.kubecanvas_backend = backend
    assert proj.run() == proj.CELERY_GAVE  # type: ignore[attr-defined]


def test_task_always_eager_runs_calls_here(proj: object) -> None:
    from proj.celery import app
    from proj.tasks import add

    app.conf.task_always_eager = True
    result = add.delay(1, 2)
    assert type(result).__name__ == "EagerResult"
    assert result.get() == 3


def test_the_app_is_celerys_shape(proj: object) -> None:
    from proj.celery import app
    from proj.tasks import add

    assert apps.current_app() is app
    assert app.main == "proj"
    assert app.conf.broker_url == "redis://localhost:6379/0"
    assert app.conf.result_expires == 3600
    assert app.tasks["proj.tasks.add"] is add
    assert add.name == "proj.tasks.add"


def test_without_a_cluster_the_error_names_the_setting(proj: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from proj.tasks import add

    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ClusterError, match="KUBECANVAS_BACKEND=local"):
        add.delay(1, 2)


def test_a_back_end_that_does_not_exist_is_named(proj: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from proj.tasks import add

    monkeypatch.setenv("KUBECANVAS_BACKEND", "celery")
    with pytest.raises(
        ConfigurationError, match="KUBECANVAS_BACKEND: 'celery' is not a back end; use one of"
    ):
        add.delay(1, 2)
