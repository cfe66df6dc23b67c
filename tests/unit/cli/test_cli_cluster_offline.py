"""The cluster commands' pieces that need no cluster: drawing a canvas, finding the
operator, building a retry, reading result states, and the errors that come first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubecanvas.canvas.compiler import compile_spec
from kubecanvas.canvas.validation import parse_spec
from kubecanvas.cli.app import run_cli
from kubecanvas.cli.canvasview import CanvasView, format_seconds
from kubecanvas.cli.clusteropts import format_table
from kubecanvas.cli.dotgraph import render, to_dot
from kubecanvas.cli.errors import CliError
from kubecanvas.cli.logs import missing_log_note
from kubecanvas.client import settings as client_settings
from kubecanvas.client.documents import document_from_result, result_object
from kubecanvas.client.reruns import retry_manifest
from kubecanvas.client.results.states import View as _View
from kubecanvas.client.results.states import celery_state as _state
from kubecanvas.client.sources import ResultsApiSource, open_source
from kubecanvas.engine.states import Phase, TaskRecord, TaskState
from kubecanvas.errors import ClusterError
from kubecanvas.graph.nodes import ListRef, NodeRef
from kubecanvas.resources import RETRY_OF_ANNOTATION, RETRY_OF_UID_ANNOTATION

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

CANVAS: dict[str, Any] = {
    "chain": [
        {"task": "m.first", "args": [1], "link": [{"task": "m.audit"}], "linkError": [{"task": "m.alarm"}]},
        {"chord": {"header": [{"task": "m.left"}, {"task": "m.right"}], "body": {"task": "m.join"}}},
        {"map": {"task": "m.each", "items": [[1], [2]]}},
    ]
}


def task_entry(task_id: str, task: str, state: str, **more: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": task_id,
        "task": task,
        "state": state,
        "args": [],
        "kwargs": {},
        "result": None,
        "error": None,
        "attempts": 1 if state != "PENDING" else 0,
        "startedAt": "2026-01-01T00:00:00.000Z" if state != "PENDING" else None,
        "finishedAt": "2026-01-01T00:00:01.500Z" if state in ("SUCCESS", "FAILURE") else None,
    }
    entry.update(more)
    if not entry["attempts"]:  # never ran
        entry["startedAt"] = entry["finishedAt"] = None
    return entry


def document() -> dict[str, Any]:
    return {
        "name": "drawn",
        "phase": "Failed",
        "result": None,
        "error": {"task": "m.left", "taskId": "t2", "type": "ValueError", "message": "bad"},
        "tasks": [
            task_entry("t0", "m.first", "SUCCESS", args=[1], result=10),
            task_entry("t1", "m.audit", "SUCCESS", args=[10], result=None),
            task_entry("t2", "m.left", "FAILURE", error={"type": "ValueError", "message": "bad"}),
            task_entry("t3", "m.right", "SUCCESS", result=2),
            task_entry(
                "t4",
                "m.join",
                "FAILURE",
                attempts=0,
                error={"type": "ChordError", "message": "Dependency t2"},
            ),
            task_entry("t5", "m.each", "REVOKED", attempts=0),
        ],
    }


def view(with_document: bool = True) -> CanvasView:
    graph = compile_spec(parse_spec({"canvas": CANVAS}))
    return CanvasView("drawn", CANVAS, graph, document() if with_document else None)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- drawing


def test_the_tree_follows_the_canvas_with_states_and_durations() -> None:
    from rich.console import Console

    console = Console(width=200, record=True, color_system=None)
    console.print(view().tree())
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    assert lines[0] == "drawn  Failed"
    assert lines[1] == "└── chain"
    text = "\n".join(lines)
    assert "t0 m.first(1)  SUCCESS  1.5s  → 10" in text
    assert "link\n" in text
    assert "t1 m.audit(10)  SUCCESS" in text
    assert "on error" in text
    assert "m.alarm (not called)" in text
    assert "t2 m.left()  FAILURE  1.5s  ValueError: bad" in text
    assert "body" in text
    assert "t4 m.join()  FAILURE  ChordError: Dependency t2" in text
    assert "map m.each" in text
    assert "t5 m.each[2 items]  REVOKED\n" in text + "\n"


def test_the_dot_graph_colours_by_state_and_escapes_labels() -> None:
    dot = to_dot(view())
    assert dot.startswith('digraph "drawn" {\n')
    assert dot.endswith("}\n")
    assert '"t2" [label="t2\\nm.left\\nFAILURE 1.5s", fillcolor="#fc9272"];' in dot
    assert (
        '"t1" [label="t1\\nm.audit\\nSUCCESS 1.5s", fillcolor="#a1d99b", style="rounded,filled,dashed"];'
        in dot
    )
    for edge in ('"t0" -> "t1";', '"t0" -> "t2";', '"t2" -> "t4";', '"t3" -> "t4";', '"t4" -> "t5";'):
        assert edge in dot
    odd = CanvasView('say "hi"\\', None, None, None)
    assert to_dot(odd).startswith('digraph "say \\"hi\\"\\\\" {')


def test_a_file_is_drawn_without_states() -> None:
    dot = to_dot(view(with_document=False))
    assert "SUCCESS" not in dot
    assert 'fillcolor="#ffffff"' in dot


def test_svg_without_graphviz_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(
        CliError, match=r"needs Graphviz's `dot` on PATH \(Debian: apt-get install graphviz\)"
    ):
        render("digraph x {}", "svg")


def test_graph_of_a_file_needs_no_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(["graph", str(EXAMPLES / "contract" / "case-20-chord-in-chain.yaml")])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith('digraph "case-20" {')
    assert '"t1" -> "t3";' in out


def test_small_formatters() -> None:
    assert format_table(["A", "LONGER"], [["xyz", "1"], ["q", ""]]) == "A     LONGER\nxyz   1\nq\n"
    assert [format_seconds(s) for s in (0.25, 75, 3 * 3600 + 120)] == ["0.2s", "1m15s", "3h02m"]


def test_why_a_task_has_no_log() -> None:
    note = missing_log_note(task_entry("t0", "m.a", "SUCCESS"))
    assert "the Job (and pod) of a task that succeeded is removed shortly after it completed" in note
    assert missing_log_note(task_entry("t0", "m.a", "PENDING")) == "not started yet"
    never = task_entry("t4", "m.join", "FAILURE", attempts=0, error={"type": "ChordError", "message": "x"})
    assert missing_log_note(never) == "never ran: ChordError: x"
    assert "kept for an hour" in missing_log_note(task_entry("t2", "m.left", "FAILURE"))


# ---------------------------------------------------------------------- commands that fail first


def test_submit_checks_the_file_before_reaching_a_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kubecanvas.io/v1alpha1",
                "kind": "Workflow",
                "metadata": {"name": "broken"},
                "spec": {"canvas": {"chord": {"header": []}}},
            }
        )
    )
    assert run_cli(["submit", str(path)]) == 1
    assert capsys.readouterr().err == f"{path}: spec.canvas.chord: 'body' is required\n"
    assert run_cli(["submit", str(tmp_path / "missing.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["list", "-n", "a", "-A"]) == 2
    assert capsys.readouterr().err == "kubecanvas: give -n NS or -A, not both\n"
    assert run_cli(["get"]) == 2
    assert run_cli(["graph", "x", "--format", "gif"]) == 2


# ---------------------------------------------------------------------- the operator and Redis


class FakeResultsApi:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str]] = []

    def workflow_result(self, namespace: str, name: str) -> Any:
        self.asked.append((namespace, name))
        return self.answer


def test_without_redis_the_document_comes_from_the_results_api_as_a_kubernetes_object() -> None:
    document: Any = {"name": "wf", "phase": "Succeeded", "result": 4, "error": None, "tasks": [{"id": "t0"}]}
    workflow = {"metadata": {"name": "wf", "namespace": "team", "uid": "u1", "labels": {"a": "b"}}}
    served = result_object(workflow, document)
    assert served["apiVersion"] == "results.kubecanvas.io/v1alpha1"
    assert served["kind"] == "WorkflowResult"
    assert served["metadata"] == {"name": "wf", "namespace": "team", "uid": "u1"}
    api: Any = FakeResultsApi(served)
    source = open_source(api, client_settings.ClientSettings())
    assert isinstance(source, ResultsApiSource)
    assert source.document(workflow) == document
    assert api.asked == [("team", "wf")]


def test_an_answer_that_is_not_a_workflow_result_is_refused() -> None:
    with pytest.raises(ClusterError, match="not a WorkflowResult"):
        document_from_result({"kind": "Status", "message": "no"})


def test_settings_arguments_beat_configure_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_settings, "_configured", client_settings.ClientSettings())
    environ = {"KUBECANVAS_REDIS_URL": "redis://env"}
    assert client_settings.resolve(environ=environ).redis_url == "redis://env"
    client_settings.configure(redis_url="redis://configured", namespace="team")
    resolved = client_settings.resolve(environ=environ)
    assert (resolved.redis_url, resolved.namespace) == ("redis://configured", "team")
    assert client_settings.resolve(redis_url="redis://given", environ=environ).redis_url == "redis://given"


def body(phase: str | None, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": "nightly",
            "namespace": "team",
            "uid": "u-1",
            "labels": {"app": "etl"},
            **metadata,
        },
        "spec": {"canvas": {"task": "m.a"}, "revoke": True, "parallelism": 3},
        "status": {"phase": phase} if phase else {},
    }


def test_a_retry_copies_the_spec_and_points_at_the_old_workflow() -> None:
    manifest = retry_manifest(body("Failed"))
    assert manifest["metadata"] == {
        "namespace": "team",
        "generateName": "nightly-retry-",
        "labels": {"app": "etl"},
        "annotations": {RETRY_OF_ANNOTATION: "nightly", RETRY_OF_UID_ANNOTATION: "u-1"},
    }
    assert manifest["spec"] == {"canvas": {"task": "m.a"}, "parallelism": 3}  # no longer revoked
    again = retry_manifest(body("Revoked", name="nightly-retry-x7k2p"), name=None)
    assert again["metadata"]["generateName"] == "nightly-retry-"  # a retry of a retry keeps the stem
    assert retry_manifest(body("Failed"), "fixed")["metadata"]["name"] == "fixed"
    with pytest.raises(ClusterError, match="succeeded: there is nothing to retry"):
        retry_manifest(body("Succeeded"))
    with pytest.raises(ClusterError, match=r"has not finished \(phase Running\)"):
        retry_manifest(body("Running"))


def records(**states: str) -> dict[str, TaskRecord]:
    return {task_id: TaskRecord(state=TaskState(state)) for task_id, state in states.items()}


def test_result_states_follow_celery() -> None:
    chain_end, group = NodeRef("t2"), ListRef((NodeRef("t0"), NodeRef("t1")))
    running = _View(Phase.RUNNING, records(t0="SUCCESS", t1="STARTED", t2="PENDING"))
    assert _state(running, chain_end, top=True) == "PENDING"
    assert _state(running, group, top=True) == "STARTED"
    assert _state(running, NodeRef("t0"), top=False) == "SUCCESS"
    # The value is ready when its tasks succeeded, even if a callback still runs.
    done = _View(Phase.RUNNING, records(t0="SUCCESS", t1="SUCCESS", t2="SUCCESS"))
    assert _state(done, chain_end, top=True) == "SUCCESS"
    failed = _View(Phase.FAILED, records(t0="SUCCESS", t1="FAILURE", t2="REVOKED"))
    assert _state(failed, chain_end, top=True) == "FAILURE"
    assert _state(failed, chain_end, top=False) == "REVOKED"
    assert _state(failed, group, top=False) == "FAILURE"
    revoked = _View(Phase.REVOKED, records(t0="REVOKED", t1="REVOKED", t2="REVOKED"))
    assert _state(revoked, chain_end, top=True) == "REVOKED"
    # No state in Redis: not started yet, or refused at once (the status says).
    assert _state(_View(None, {}, {}), chain_end, top=True) == "PENDING"
    assert _state(_View(None, {}, {"phase": "Failed"}), chain_end, top=True) == "FAILURE"
