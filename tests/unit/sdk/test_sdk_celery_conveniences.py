"""Celery's small conveniences, checked against Celery itself (a dev dependency only):
`group.skew`, `maybe_signature`, `~sig`."""

from __future__ import annotations

from typing import Any

import celery
import pytest
from sdk_tasks import add

from kubecanvas import Canvas, group, maybe_signature


@pytest.mark.parametrize(
    "skew",
    [
        {},
        {"start": 0, "step": 0.5},
        {"start": 1, "stop": 2.5, "step": 1},
        {"start": 5, "stop": 3},
        {"stop": 0},
    ],
)
def test_group_skew_gives_celerys_countdowns(skew: dict[str, float]) -> None:
    app = celery.Celery("reference", set_as_current=False)

    @app.task(name="conftasks.add")
    def celery_add(x: int, y: int) -> int:
        return x + y

    theirs = celery.group(celery_add.s(i, i) for i in range(5)).skew(**skew)
    ours = group(add.s(i, i) for i in range(5)).skew(**skew)

    expected = [task.options["countdown"] for task in theirs.tasks]
    assert [task.to_canvas()["options"]["countdown"] for task in ours.tasks] == expected


def test_maybe_signature_reads_none_canvases_and_mappings() -> None:
    assert maybe_signature(None) is None
    signature = add.s(1, 2)
    assert maybe_signature(signature) is signature
    copy = maybe_signature(signature, clone=True)
    assert copy == signature
    assert copy is not signature
    read = maybe_signature({"task": "conftasks.add", "args": [1, 2]})
    assert isinstance(read, Canvas)
    assert read == signature
    with pytest.raises(TypeError, match="expected a signature or canvas"):
        maybe_signature(42)


def test_invert_submits_and_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """`~sig` is `sig.delay().get()`, as in Celery."""
    submitted: list[Any] = []

    class Handle:
        def get(self) -> int:
            return 3

    def apply_async(self: Canvas, args: Any = None, kwargs: Any = None, **_: Any) -> Handle:
        submitted.append((self.to_canvas(), tuple(args or ()), dict(kwargs or {})))
        return Handle()

    monkeypatch.setattr(Canvas, "apply_async", apply_async)
    assert ~add.s(1, 2) == 3
    assert submitted == [({"task": "conftasks.add", "args": [1, 2]}, (), {})]
