"""One answer to "is this Workflow valid?": parse every field, then compile the canvas.

Some problems show only when compiling (an errback that has an errback of its own, a
chord body that is a group, ...). Every door a Workflow comes in by asks here — the
admission webhook (`kubectl apply`), the operator, `kubecanvas lint`, `submit`, the SDK
and the local runner — so a Workflow refused by one is refused by all, with the same
field paths, and none is admitted only to end Failed.

    problems = check(manifest)          # [] when valid: Workflow or CronWorkflow
    checked = checked_spec(body["spec"])  # InvalidWorkflow, or the spec and its graph
    notes = warnings(manifest)          # valid, but probably not what was meant
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubecanvas.canvas.compiler import compile_spec
from kubecanvas.canvas.model import Workflow, WorkflowSpec
from kubecanvas.canvas.validation import parse_spec, parse_workflow
from kubecanvas.errors import InvalidWorkflow, Problem
from kubecanvas.graph.nodes import Graph
from kubecanvas.scheduling.spec import CronSpec, parse_cron_spec, parse_cron_workflow

__all__ = [
    "CheckedSpec",
    "CheckedWorkflow",
    "check",
    "checked_cron_spec",
    "checked_cron_workflow",
    "checked_spec",
    "checked_workflow",
    "warnings",
]

# What kubectl's YAML 1.1 makes of an unquoted y, yes, on, true (n, no, off, false) used as a key.
_BOOLEAN_KEYS = {"true": ("y", "yes", "on"), "false": ("n", "no", "off")}


@dataclass(frozen=True, slots=True)
class CheckedSpec:
    """A valid Workflow spec and the task graph it compiles to."""

    spec: WorkflowSpec
    graph: Graph


@dataclass(frozen=True, slots=True)
class CheckedWorkflow:
    """A valid Workflow manifest and the task graph it compiles to."""

    workflow: Workflow
    graph: Graph

    @property
    def spec(self) -> WorkflowSpec:
        return self.workflow.spec


def checked_spec(spec: Any, path: str = "spec") -> CheckedSpec:
    """The spec of a Workflow, parsed and compiled; InvalidWorkflow naming every problem."""
    parsed = parse_spec(spec, path)
    return CheckedSpec(parsed, compile_spec(parsed, path=_canvas_path(path)))


def checked_workflow(manifest: Any) -> CheckedWorkflow:
    """A whole Workflow manifest (apiVersion, kind, metadata, spec), parsed and compiled."""
    workflow = parse_workflow(manifest)
    return CheckedWorkflow(workflow, compile_spec(workflow.spec))


def checked_cron_spec(spec: Any, path: str = "spec") -> CronSpec:
    """The spec of a CronWorkflow; its Workflow template is compiled too, so a template that
    could never run is refused when the CronWorkflow is applied, not at its first run."""
    parsed = parse_cron_spec(spec, path)
    compile_spec(parsed.model.workflow_spec, path=_canvas_path(f"{path}.workflowSpec"))
    return parsed


def checked_cron_workflow(manifest: Any) -> CronSpec:
    """A whole CronWorkflow manifest, its template compiled."""
    parsed = parse_cron_workflow(manifest)
    compile_spec(parsed.model.workflow_spec, path=_canvas_path("spec.workflowSpec"))
    return parsed


def check(manifest: Any) -> list[Problem]:
    """Every problem of a Workflow or CronWorkflow manifest (by its `kind`), or none."""
    try:
        if isinstance(manifest, Mapping) and manifest.get("kind") == "CronWorkflow":
            checked_cron_workflow(manifest)
        else:
            checked_workflow(manifest)
    except InvalidWorkflow as error:
        return list(error.problems) or [Problem("", str(error))]
    return []


def warnings(manifest: Any) -> list[Problem]:
    """What is valid but probably not meant: a key named `true` or `false` anywhere in the
    spec, which is what kubectl's YAML 1.1 makes of an unquoted `y:` or `no:` key. The
    admission webhook answers them as warnings (`kubectl apply` prints them), `lint` prints them."""
    spec = manifest.get("spec") if isinstance(manifest, Mapping) else None
    found: list[Problem] = []
    stack: list[tuple[str, Any]] = [("spec", spec)]
    while stack:  # no recursion: a deeply nested canvas must not crash the webhook
        path, value = stack.pop()
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if key in _BOOLEAN_KEYS:
                    spelled = ", ".join(f"{word}:" for word in _BOOLEAN_KEYS[key])
                    found.append(
                        Problem(
                            f"{path}.{key}",
                            f"a key named {key!r}: an unquoted {spelled} or {key}: key becomes {key!r} "
                            "in YAML 1.1 (kubectl); quote it ('y': ...) if you meant a name",
                        )
                    )
                stack.append((f"{path}.{key}", inner))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", inner) for index, inner in enumerate(value))
    return sorted(found, key=lambda problem: problem.path)


def _canvas_path(spec_path: str) -> str:
    return f"{spec_path}.canvas" if spec_path else "canvas"
