"""Read a Workflow YAML file, saying where it is wrong: YAML syntax by line and
column, Workflow problems by field path.

The YAML is read as kubectl reads it (`_kits/kube_yaml.py`: YAML 1.1 booleans, string
keys), so a file means here what it means to `kubectl apply`; duplicate keys are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubecanvas._kits.kube_yaml import load_all
from kubecanvas.canvas.model import Workflow
from kubecanvas.check import checked_workflow
from kubecanvas.errors import InvalidWorkflow, Problem

__all__ = ["load_workflow_file", "load_yaml"]


def load_yaml(text: str) -> Any:
    """The one YAML document in `text`, or InvalidWorkflow with the line and column."""
    try:
        documents = load_all(text)
    except yaml.MarkedYAMLError as error:
        raise InvalidWorkflow([Problem("", _describe(error))]) from None
    except yaml.YAMLError as error:
        raise InvalidWorkflow([Problem("", f"not valid YAML: {error}")]) from None
    if not documents:
        raise InvalidWorkflow([Problem("", "the file is empty: expected one Workflow document")])
    if len(documents) > 1:
        raise InvalidWorkflow(
            [Problem("", f"expected one Workflow document, found {len(documents)} (separated by '---')")]
        )
    return documents[0]


def load_workflow_file(path: str | Path) -> Workflow:
    """A validated Workflow from a YAML file; InvalidWorkflow (or OSError) otherwise."""
    text = Path(path).read_text(encoding="utf-8")
    return checked_workflow(load_yaml(text)).workflow


def _describe(error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = error.problem or "invalid YAML"
    context = f" ({error.context})" if error.context else ""
    return f"{where}{problem}{context}"
