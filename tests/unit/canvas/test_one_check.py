"""Every door a Workflow comes in by gives the same answer: parse, then compile.

An errback with an errback of its own parses (every field is well-formed) and is refused
only by the compiler. It used to pass `kubectl apply` and the SDK, then end Failed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import kopf
import pytest

from kubecanvas.canvas.validation import MAX_DEPTH
from kubecanvas.check import check, checked_cron_spec, checked_spec
from kubecanvas.cli.lint import workflow_problems
from kubecanvas.errors import InvalidWorkflow
from kubecanvas.sdk.manifest import validate_manifest
from kubecanvas_operator.webhook import validate, validate_cronworkflow

CANVAS: dict[str, Any] = {
    "task": "conftasks.add",
    "args": [1, 2],
    "linkError": {"task": "conftasks.log_error", "linkError": {"task": "conftasks.log_error"}},
}
PROBLEM = "spec.canvas.linkError[0].linkError: an errback cannot have errbacks"
WORKFLOW = {
    "apiVersion": "kubecanvas.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "w"},
    "spec": {"canvas": CANVAS},
}
CRON = {
    "apiVersion": "kubecanvas.io/v1alpha1",
    "kind": "CronWorkflow",
    "metadata": {"name": "c"},
    "spec": {"schedule": "@daily", "workflowSpec": {"canvas": CANVAS}},
}


def test_check_finds_what_only_the_compiler_sees() -> None:
    assert [str(problem) for problem in check(WORKFLOW)] == [PROBLEM]


def test_check_of_a_cronworkflow_compiles_its_template() -> None:
    assert [str(problem) for problem in check(CRON)] == [
        "spec.workflowSpec.canvas.linkError[0].linkError: an errback cannot have errbacks"
    ]
    with pytest.raises(InvalidWorkflow):
        checked_cron_spec(CRON["spec"])


def test_a_valid_workflow_has_no_problems_and_a_graph() -> None:
    valid = {**WORKFLOW, "spec": {"canvas": {"task": "conftasks.add", "args": [1, 2]}}}
    assert check(valid) == []
    assert [node.task for node in checked_spec(valid["spec"]).graph.nodes] == ["conftasks.add"]


def test_the_admission_webhook_refuses_it() -> None:
    with pytest.raises(kopf.AdmissionError) as error:
        asyncio.run(validate(kopf.Body({"spec": WORKFLOW["spec"]}).spec, operation="CREATE"))
    assert str(error.value) == f"invalid Workflow: {PROBLEM}"
    with pytest.raises(kopf.AdmissionError):
        asyncio.run(validate_cronworkflow(kopf.Body({"spec": CRON["spec"]}).spec, operation="CREATE"))


def test_the_sdk_refuses_it() -> None:
    with pytest.raises(InvalidWorkflow) as error:
        validate_manifest(WORKFLOW)
    assert [str(problem) for problem in error.value.problems] == [PROBLEM]


def test_lint_refuses_both_kinds(tmp_path: Path) -> None:
    import yaml

    workflow, cron = tmp_path / "w.yaml", tmp_path / "c.yaml"
    workflow.write_text(yaml.safe_dump(WORKFLOW))
    cron.write_text(yaml.safe_dump(CRON))
    assert workflow_problems(workflow) == [PROBLEM]
    assert workflow_problems(cron) == [
        "spec.workflowSpec.canvas.linkError[0].linkError: an errback cannot have errbacks"
    ]


def nested(levels: int) -> dict[str, Any]:
    canvas: dict[str, Any] = {"task": "conftasks.add", "args": [1, 2]}
    for _ in range(levels):
        canvas = {"chain": [canvas]}
    return {**WORKFLOW, "spec": {"canvas": canvas}}


def test_a_canvas_nested_past_the_documented_depth_is_refused_by_path() -> None:
    """Deeper than MAX_DEPTH, pydantic and the compiler would hit recursion limits (an HTTP 500
    from the webhook, a traceback in the operator): refused at once, naming where."""
    assert check(nested(120)) == []
    for levels in (130, 280, 5000):
        (problem,) = check(nested(levels))
        assert problem.path.startswith("spec.canvas.chain[0].chain[0]")
        assert (
            problem.message
            == f"nested more than {MAX_DEPTH} levels deep (mappings and lists inside one another)"
        )


def test_the_depth_limit_is_the_same_for_a_manifest_and_for_its_spec_alone() -> None:
    """`kubecanvas lint` checks the whole manifest, the webhook and the operator the spec alone
    (found by the bad-input suite: they counted from different roots, so one Workflow near the
    limit was refused by lint and admitted by the webhook)."""
    from kubecanvas.check import checked_spec
    from kubecanvas.errors import InvalidWorkflow

    for levels in range(118, 132):
        manifest = nested(levels)
        try:
            checked_spec(manifest["spec"])
            alone: list[Any] = []
        except InvalidWorkflow as error:
            alone = list(error.problems)
        assert check(manifest) == alone, levels
