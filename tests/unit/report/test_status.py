"""The MESSAGE column of `kubectl get workflows`: what a user watching a run reads."""

from __future__ import annotations

from kubecanvas.canvas.compiler import compile_spec
from kubecanvas.canvas.validation import parse_spec
from kubecanvas.engine.events import Start, Started, Succeeded
from kubecanvas.engine.machine import Engine
from kubecanvas.report.status import phase_message


def _group(size: int, parallelism: int) -> Engine:
    canvas = {"group": [{"task": "m.add", "args": [i, i]} for i in range(size)]}
    return Engine(compile_spec(parse_spec({"canvas": canvas})), parallelism=parallelism)


def test_launched_attempts_whose_pods_have_not_reported_are_starting_not_invisible() -> None:
    engine = _group(5, parallelism=3)
    assert phase_message(engine) == "waiting to start"
    launched = engine.feed(Start(0.0)).launches
    assert len(launched) == 3
    assert phase_message(engine) == "0 of 5 tasks done, 0 running, 3 starting"
    engine.feed(Started(launched[0].node.id, 1, 1.0))
    assert phase_message(engine) == "0 of 5 tasks done, 1 running, 2 starting"
    engine.feed(Succeeded(launched[0].node.id, 1, 2.0))
    assert phase_message(engine) == "1 of 5 tasks done, 0 running, 3 starting"  # the next one launched


def test_only_running_tasks_are_named_when_none_is_starting() -> None:
    engine = _group(1, parallelism=1)
    (launch,) = engine.feed(Start(0.0)).launches
    engine.feed(Started(launch.node.id, 1, 1.0))
    assert phase_message(engine) == "0 of 1 tasks done, 1 running"
