"""`apply_async`, `delay` and `apply` hand a validated Workflow to the cluster client or
the local runner (both stood in for here: neither is part of the SDK)."""

from __future__ import annotations

import re
import sys
import types
from typing import Any

import pytest
from sdk_tasks import add, mul, tsum

import kubecanvas.client
from kubecanvas import InvalidWorkflow, chord, group

policies: list[dict[str, Any]] = []  # what each submit was told about publish retries


@pytest.fixture
def submitted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], str | None]]:
    calls: list[tuple[dict[str, Any], str | None]] = []
    policies.clear()

    def submit(
        manifest: dict[str, Any], *, namespace: str | None = None, check: Any = None, **publishing: Any
    ) -> str:
        check(manifest)  # as the real one does, before any credentials
        calls.append((manifest, namespace))
        policies.append(publishing)
        return str(manifest["metadata"]["name"])

    monkeypatch.setattr(kubecanvas.client, "submit", submit, raising=False)
    return calls


@pytest.fixture
def eager(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    module = types.ModuleType("kubecanvas.local.eager")

    def run_eagerly(manifest: dict[str, Any]) -> str:
        calls.append(manifest)
        return "ran"

    module.run_eagerly = run_eagerly  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kubecanvas.local.eager", module)
    return calls


def test_apply_async_submits_the_workflow_with_call_time_arguments(submitted: list[Any]) -> None:
    sig = add.s(4).set(countdown=1)
    name = sig.apply_async((16,), {"z": 1}, namespace="team-a", countdown=5, priority=3)
    manifest, namespace = submitted[0]
    assert namespace == "team-a"
    assert name == manifest["metadata"]["name"]
    assert re.fullmatch(r"add-[0-9a-f]{10}", name)
    assert manifest["metadata"]["namespace"] == "team-a"
    assert manifest["spec"] == {
        "canvas": {"task": "conftasks.add", "args": [4], "options": {"countdown": 5, "priority": 3}},
        "args": [16],
        "kwargs": {"z": 1},
    }
    assert sig.options == {"countdown": 1}  # call-time options do not change the signature


def test_delay_and_task_apply_async(submitted: list[Any]) -> None:
    add.delay(2, 2)
    mul.apply_async((3, 4), name="product", code={"path": "/app"})
    assert submitted[0][0]["spec"] == {"canvas": {"task": "conftasks.add"}, "args": [2, 2]}
    assert submitted[1][0]["metadata"] == {"name": "product"}
    assert submitted[1][0]["spec"]["code"] == {"path": "/app"}


def test_calling_a_chain_group_or_chord_submits_it_as_celery_does(submitted: list[Any]) -> None:
    (add.s(4) | mul.s(2))(16)
    group(add.s(1), add.s(2))(10)
    chord([add.s(1, 1), add.s(2, 2)])(tsum.s())
    add.chunks([[1, 1]], 1)()
    specs = [manifest["spec"] for manifest, _ in submitted]
    assert specs[0]["args"] == [16]
    assert specs[1]["args"] == [10]
    assert specs[2]["canvas"]["chord"]["body"] == {"task": "conftasks.tsum"}
    assert "chunks" in specs[3]["canvas"]


def test_an_invalid_canvas_is_refused_before_submitting(submitted: list[Any]) -> None:
    with pytest.raises(InvalidWorkflow, match="priority"):
        add.s(1).apply_async(priority=256)
    assert submitted == []


def test_apply_runs_the_workflow_with_the_local_runner(eager: list[Any]) -> None:
    assert (add.s(4) | mul.s(2)).apply((16,)) == "ran"
    assert add.apply((1, 2), countdown=1) == "ran"
    assert eager[0]["spec"]["args"] == [16]
    assert eager[1]["spec"]["canvas"] == {"task": "conftasks.add", "options": {"countdown": 1}}
    assert eager[1]["spec"]["args"] == [1, 2]


def test_celerys_publish_retry_options_reach_the_submit_not_the_task(submitted: list[Any]) -> None:
    add.apply_async((1, 2), retry=False)
    add.apply_async((1, 2), retry_policy={"max_retries": 9})
    assert policies == [
        {"retry": False, "retry_policy": None},
        {"retry": True, "retry_policy": {"max_retries": 9}},
    ]
    assert all("options" not in manifest["spec"]["canvas"] for manifest, _ in submitted)


def test_a_call_is_compiled_once(submitted: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A canvas of 500,000 items takes ~2 s to compile: a call used to compile it three times
    (building the manifest, checking the call's arguments, submitting)."""
    import kubecanvas.check

    compiled: list[object] = []
    real = kubecanvas.check.compile_spec

    def counting(*args: Any, **kwargs: Any) -> Any:
        compiled.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(kubecanvas.check, "compile_spec", counting)
    add.chunks([(i, i) for i in range(1000)], 100).apply_async()
    (group(add.s(i, i) for i in range(3)) | tsum.s()).delay()
    assert len(submitted) == 2
    assert len(compiled) == 2
