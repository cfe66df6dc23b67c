"""Celery's `queue=`: here a queue is where tasks run (`app.conf.kubecanvas_queues`), its
placement options given to every call or task routed to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubecanvas import Celery, InvalidWorkflow, signature
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


def test_an_unknown_queue_names_the_ones_there_are(app: Celery) -> None:
    with pytest.raises(
        InvalidWorkflow, match=r"options\.queue: no queue 'cpu': .* the app's queues are 'gpu'"
    ):
        signature("m.train").set(queue="cpu")
