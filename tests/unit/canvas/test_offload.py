"""A spec too large for etcd travels in two parts (canvas/offload.py): what the client
sends, what a Workflow may name, and how the operator's join refuses what it must."""

from __future__ import annotations

from typing import Any

import pytest

from kubecanvas.canvas.offload import INLINE_SPEC_LIMIT, CanvasRef, canvas_ref, joined, split, stored_text
from kubecanvas.check import check, checked_spec
from kubecanvas.errors import InvalidWorkflow

BIG = {
    "canvas": {"map": {"task": "conftasks.double", "items": list(range(150_000))}},
    "args": [],
    "kwargs": {"note": "é"},
    "parallelism": 3,
    "defaults": {"priority": 3},
}


def paths(error: pytest.ExceptionInfo[InvalidWorkflow]) -> list[str]:
    return [problem.path for problem in error.value.problems]


def test_a_small_spec_stays_whole_and_a_large_one_names_its_stored_part() -> None:
    assert split({"canvas": {"task": "m.f"}}) is None
    parts = split(BIG)
    assert parts is not None
    spec, text = parts
    # The Workflow keeps everything but the stored fields, and is small.
    assert set(spec) == {"parallelism", "defaults", "canvasRef"}
    assert len(stored_text(spec)) < 200 < INLINE_SPEC_LIMIT < len(text.encode())
    assert spec["canvasRef"] == {"sha256": CanvasRef.of(text).sha256, "bytes": len(text.encode())}
    # Joined again, it compiles to exactly what the whole spec compiles to.
    assert joined(spec, text) == BIG
    assert checked_spec(joined(spec, text)).graph == checked_spec(BIG).graph
    # A spec that already names a canvasRef is never split again (a retry of one).
    assert split(spec, limit=0) is None


def test_the_join_takes_only_the_stored_part_its_digest_names() -> None:
    parts = split(BIG)
    assert parts is not None
    spec, text = parts
    with pytest.raises(InvalidWorkflow, match=r"spec.canvasRef: the stored canvas is not sha256:"):
        joined(spec, text.replace("149999", "149998"))
    # Right digest, wrong content: fields a canvasRef does not stand for are refused.
    smuggled = stored_text({"canvas": {"task": "m.f"}})[:-1] + ',"code":{"path":"/"}}'
    with pytest.raises(InvalidWorkflow, match="at most canvas, args, kwargs"):
        joined({"canvasRef": CanvasRef.of(smuggled).to_json()}, smuggled)


def test_a_malformed_canvas_ref_is_refused_by_field_path() -> None:
    with pytest.raises(InvalidWorkflow) as error:
        canvas_ref({"canvasRef": {"sha256": "ABC", "bytes": 0}, "canvas": {"task": "m.f"}, "args": [1]})
    assert paths(error) == ["spec.canvas", "spec.args", "spec.canvasRef.sha256", "spec.canvasRef.bytes"]
    with pytest.raises(InvalidWorkflow) as error:
        canvas_ref({"canvasRef": "sha256:abc"}, "spec.workflowSpec")
    assert paths(error) == ["spec.workflowSpec.canvasRef"]
    assert canvas_ref({"canvas": {"task": "m.f"}}) is None


def test_a_spec_whose_canvas_is_in_a_cluster_cannot_run_or_check_elsewhere() -> None:
    parts = split(BIG)
    assert parts is not None
    manifest = {"apiVersion": "kubecanvas.io/v1alpha1", "kind": "Workflow", "spec": parts[0]}
    problems = check(manifest)
    assert [problem.path for problem in problems] == ["spec.canvasRef"]
    assert "is stored in the cluster it was submitted to" in problems[0].message
    with pytest.raises(InvalidWorkflow, match="stored in the cluster"):
        checked_spec(parts[0])


def test_a_result_handle_of_a_stored_canvas_says_it_needs_redis_instead_of_compiling() -> None:
    """Without the graph (a handle made again from the Workflow's name, no Redis URL), a
    client compiles the spec; a spec whose canvas is in the cluster has none to compile."""
    from kubecanvas.client.results.workflow import RemoteWorkflow
    from kubecanvas.client.settings import ClientSettings
    from kubecanvas.errors import ConfigurationError

    parts = split(BIG)
    assert parts is not None
    body = {"metadata": {"name": "big", "namespace": "team", "uid": "u1"}, "spec": parts[0]}

    class Api:
        def get(self, namespace: str, name: str) -> dict[str, Any]:
            return body

    workflow = RemoteWorkflow("big", "team", ClientSettings(), api=Api(), uid="u1")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"keeps its canvas in the cluster.*needs Redis"):
        _ = workflow.graph
