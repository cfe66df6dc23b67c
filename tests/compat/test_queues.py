"""Celery's `queue=`: here a queue is where tasks run (`app.conf.kubecanvas_queues`), its
placement options given to every call or task routed to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubecanvas import Celery, signature, xmap
from kubecanvas.sdk.calling import current, use_app

GPU = {
    "node_selector": {"accelerator": "nvidia"},
    "resources": {"limits": {"nvidia.com/gpu": 1}},
    "priority": 5,
}


@pytest.fixture
def app() -> Iterator[Celery]:
    previous = current()
    made = Celery("queues")
    made.conf.kubecanvas_queues = {"gpu": GPU}
    yield made
    use_app(previous)


def test_a_call_routed_to_a_queue_gets_its_placement_under_its_own_options(app: Celery) -> None:
    canvas = signature("m.train").set(queue="gpu", priority=9).to_canvas()
    assert canvas["options"] == {
        "nodeSelector": {"accelerator": "nvidia"},
        "resources": {"limits": {"nvidia.com/gpu": 1}},
        "priority": 9,
    }


def test_a_task_routed_to_a_queue(app: Celery) -> None:
    @app.task(queue="gpu")
    def train() -> None: ...

    assert train.options["nodeSelector"] == {"accelerator": "nvidia"}


def test_a_queue_the_app_does_not_define_is_left_for_the_cluster(app: Celery) -> None:
    """The chart's `queues` (the operator's) may define it: the cluster resolves or refuses it."""
    assert signature("m.train").set(queue="cpu").to_canvas()["options"] == {"queue": "cpu"}


def test_task_routes_send_tasks_by_name_glob_or_router_under_their_own_options(app: Celery) -> None:
    """Celery's `task_routes` (the routing guide's forms): exact names, globs, and router
    functions, tried in order; the task's own options win over its route's."""
    app.conf.kubecanvas_queues = {"gpu": GPU, "cpu": {"node_selector": {"pool": "cpu"}}}
    app.conf.task_routes = [
        {"m.train": {"queue": "gpu"}, "feed.tasks.*": "cpu"},
        lambda name, args, kwargs, options, task=None, **kw: {"queue": "cpu"} if name == "m.late" else None,
    ]
    chain = signature("m.train").set(priority=9) | signature("feed.tasks.fetch") | signature("m.late")
    steps = chain.to_workflow("routed")["spec"]["canvas"]["chain"]
    assert steps[0]["options"] == {
        "nodeSelector": {"accelerator": "nvidia"},
        "resources": {"limits": {"nvidia.com/gpu": 1}},
        "priority": 9,
    }
    assert steps[1]["options"] == {"nodeSelector": {"pool": "cpu"}}
    assert steps[2]["options"] == {"nodeSelector": {"pool": "cpu"}}
    mapped = xmap("m.train", [1, 2]).to_workflow("mapped")["spec"]["canvas"]
    assert mapped["options"]["nodeSelector"] == {"accelerator": "nvidia"}


def test_a_route_to_a_queue_the_app_does_not_define_is_left_for_the_cluster(app: Celery) -> None:
    app.conf.task_routes = {"m.*": {"queue": "tpu"}}
    canvas = signature("m.train").to_workflow("routed")["spec"]["canvas"]
    assert canvas["options"] == {"queue": "tpu"}
