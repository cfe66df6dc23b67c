"""The engine's one door: every event of the vocabulary is understood, nothing else is."""

from __future__ import annotations

import dataclasses
from typing import get_args

import pytest

from kubecanvas.canvas.compiler import compile_spec
from kubecanvas.canvas.validation import parse_spec
from kubecanvas.engine.events import Event, Failed, Start, Started, Succeeded
from kubecanvas.engine.machine import Engine
from kubecanvas.engine.states import Phase, TaskFailure


def _engine() -> Engine:
    return Engine(compile_spec(parse_spec({"canvas": {"task": "m.add", "args": [1, 2]}})))


def _sample(kind: type) -> object:
    values = {"task_id": "t0", "attempt": 1, "at": 1.0, "error": TaskFailure("ValueError", "x")}
    return kind(
        **{field.name: values[field.name] for field in dataclasses.fields(kind) if field.name in values}
    )


@pytest.mark.parametrize("kind", get_args(Event), ids=lambda kind: kind.__name__)
def test_every_event_is_understood(kind: type) -> None:
    engine = _engine()
    engine.feed(Start(0.0))
    engine.feed(_sample(kind))  # type: ignore[arg-type]


def test_anything_else_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="not an engine event: 'start'"):
        _engine().feed("start")  # type: ignore[arg-type]


def test_events_are_values() -> None:
    event = Succeeded("t0", 1, 2.0)
    assert event == Succeeded("t0", 1, 2.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.at = 3.0  # type: ignore[misc]


def test_a_task_that_fails_ends_the_workflow_failed() -> None:
    engine = _engine()
    launched = engine.feed(Start(0.0)).launches
    assert [launch.node.id for launch in launched] == ["t0"]
    engine.feed(Started("t0", 1, 1.0))
    step = engine.feed(Failed("t0", 1, TaskFailure("ValueError", "bad"), 2.0))
    assert step.phase_changed
    assert engine.phase == Phase.FAILED
