"""Read a Workflow YAML file, saying where it is wrong: YAML syntax by line and
column, Workflow problems by field path.

Duplicate keys are refused: plain YAML keeps the last one silently, which turns a
copy-paste slip into a different workflow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubecanvas.canvas.model import Workflow
from kubecanvas.check import checked_workflow
from kubecanvas.errors import InvalidWorkflow, Problem

__all__ = ["load_workflow_file", "load_yaml"]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[object, yaml.Node] = {}
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, str | int | float | bool) or key is None:
            if key in seen:
                first = seen[key].start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {first.line + 1})", key_node.start_mark
                )
            seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str) -> Any:
    """The one YAML document in `text`, or InvalidWorkflow with the line and column."""
    try:
        documents = [
            document for document in yaml.load_all(text, Loader=_StrictLoader) if document is not None
        ]
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
