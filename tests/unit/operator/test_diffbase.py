"""The diff base kopf stores on a Workflow stays small, and still shows what changed."""

from __future__ import annotations

import json
from typing import Any, cast

import kopf

from kubecanvas_operator.diffbase import DigestedDiffBaseStorage


def workflow(members: int, *, revoke: bool = False, task: str = "tasks.add") -> kopf.Body:
    raw: dict[str, Any] = {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "big", "namespace": "default", "uid": "u1", "labels": {"team": "a"}},
        "spec": {
            "canvas": {"group": [{"task": task, "args": [i, i]} for i in range(members)]},
            "parallelism": 100,
            "revoke": revoke,
        },
    }
    return kopf.Body(cast(kopf.RawBody, raw))


def storage() -> DigestedDiffBaseStorage:
    return DigestedDiffBaseStorage(prefix="kubecanvas.io", key="last-handled-configuration")


def test_a_ten_thousand_task_canvas_leaves_a_small_annotation() -> None:
    essence = storage().build(body=workflow(10_000))
    # The API server refuses annotations over 256 KiB in all; the canvas alone is ~400 KB.
    assert len(json.dumps(essence)) < 1_000
    assert essence["spec"]["parallelism"] == 100
    assert essence["metadata"]["labels"] == {"team": "a"}


def test_a_changed_canvas_still_shows_in_the_diff() -> None:
    before = storage().build(body=workflow(3))
    after = storage().build(body=workflow(3, task="tasks.mul"))
    assert before["spec"]["canvas"] != after["spec"]["canvas"]
    assert {k: v for k, v in before["spec"].items() if k != "canvas"} == {
        k: v for k, v in after["spec"].items() if k != "canvas"
    }


def test_revoke_is_kept_as_it_is() -> None:
    before = storage().build(body=workflow(3))
    after = storage().build(body=workflow(3, revoke=True))
    assert (before["spec"]["revoke"], after["spec"]["revoke"]) == (False, True)
    assert before["spec"]["canvas"] == after["spec"]["canvas"]


def test_a_new_generation_is_digested_again() -> None:
    store = storage()
    first = workflow(3)
    first["metadata"]["generation"] = 1
    changed = workflow(3, task="tasks.mul")
    changed["metadata"]["generation"] = 2
    assert store.build(body=first)["spec"]["canvas"] != store.build(body=changed)["spec"]["canvas"]
    assert store.build(body=first)["spec"]["canvas"] == storage().build(body=first)["spec"]["canvas"]
