"""Parse a Workflow (or its spec) and explain what is wrong with it, by field path.

Every problem is reported as `<path>: <why>`, for example
`spec.canvas.chain[2].chord: 'body' is required`, so that `kubectl apply`, the
operator's status message and `kubecanvas lint` all point at the same place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from kubecanvas.canvas.model import IMPORTS_GIVEN, Workflow, WorkflowSpec
from kubecanvas.canvas.names import MODULE_NAME, TASK_ID, TASK_NAME
from kubecanvas.canvas.offload import CANVAS_REF, canvas_ref
from kubecanvas.errors import InvalidWorkflow, Problem

__all__ = ["MAX_DEPTH", "parse_spec", "parse_workflow", "problems_from"]

MAX_DEPTH = 256
"""Mappings and lists inside one another in a Workflow, at most: about 125 levels of chain,
group and chord. Deeper, every reader of a Workflow (the webhook, pydantic, the compiler,
`kubectl describe`) risks its recursion limit; such a Workflow is refused at once, by path."""


def parse_workflow(document: Any) -> Workflow:
    """A validated Workflow, or InvalidWorkflow listing every problem."""
    if not isinstance(document, Mapping):
        raise InvalidWorkflow([Problem("", f"a Workflow must be a mapping, not {type(document).__name__}")])
    for key, value in document.items():  # depth counts from the spec, as where a spec is read alone
        _refuse_too_deep(value, str(key))
    _refuse_stored_canvas(document.get("spec"), "spec")
    try:
        return Workflow.model_validate(document, context=_context(document.get("spec")))
    except ValidationError as error:
        raise InvalidWorkflow(problems_from(error)) from None


def parse_spec(spec: Any, path: str = "spec") -> WorkflowSpec:
    """A validated WorkflowSpec; problem paths start with `path`."""
    if not isinstance(spec, Mapping):
        raise InvalidWorkflow([Problem(path, f"must be a mapping, not {type(spec).__name__}")])
    _refuse_too_deep(spec, path)
    _refuse_stored_canvas(spec, path)
    try:
        return WorkflowSpec.model_validate(spec, context=_context(spec))
    except ValidationError as error:
        raise InvalidWorkflow(problems_from(error, prefix=(path,))) from None


def _refuse_stored_canvas(spec: Any, path: str) -> None:
    """A spec whose canvas is stored in a cluster (`offload`) is whole only there: the operator
    joins it before parsing; anything else (`kubecanvas run`, `lint`) is told so."""
    ref = canvas_ref(spec, path)  # InvalidWorkflow for a malformed one
    if ref is not None:
        raise InvalidWorkflow(
            [
                Problem(
                    f"{path}.{CANVAS_REF}",
                    f"the canvas {ref} is stored in the cluster it was submitted to, not in this "
                    "file: run or check the spec it was made from",
                )
            ]
        )


def _context(spec: Any) -> dict[str, Any]:
    """What a field's validity depends on beyond itself: whether the spec names `imports`."""
    return {IMPORTS_GIVEN: isinstance(spec, Mapping) and bool(spec.get("imports"))}


def _refuse_too_deep(document: Any, path: str) -> None:
    """InvalidWorkflow at the first place nested deeper than MAX_DEPTH (no recursion here)."""
    stack: list[tuple[Any, int, str]] = [(document, 1, path)]
    while stack:
        value, depth, where = stack.pop()
        if depth > MAX_DEPTH:
            shown = where if len(where) <= 120 else f"{where[:57]}...{where[-60:]}"
            raise InvalidWorkflow(
                [
                    Problem(
                        shown,
                        f"nested more than {MAX_DEPTH} levels deep (mappings and lists inside one another)",
                    )
                ]
            )
        if isinstance(value, Mapping):
            stack.extend(
                (item, depth + 1, f"{where}.{key}" if where else str(key)) for key, item in value.items()
            )
        elif isinstance(value, list):
            stack.extend((item, depth + 1, f"{where}[{index}]") for index, item in enumerate(value))


def problems_from(error: ValidationError, prefix: Sequence[str | int] = ()) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for detail in error.errors(include_url=False):
        problem = _problem(detail, prefix)
        key = (problem.path, problem.message)
        if key in seen:
            continue
        seen.add(key)
        previous = problems[-1] if problems else None
        if previous is not None and _is_union_branch(detail) and previous.path == problem.path:
            merged = _merge_type_messages(previous.message, problem.message)
            if merged is not None:  # `str | int | float`: one problem, not one per branch
                problems[-1] = Problem(problem.path, merged)
                continue
        problems.append(problem)
    return problems


def _is_union_branch(detail: ErrorDetails) -> bool:
    location = detail["loc"]
    return bool(location) and location[-1] in _TYPE_BRANCHES and detail["type"] not in _CUSTOM


def _merge_type_messages(first: str, second: str) -> str | None:
    """Merge `must be a string, got [1]` and `must be a number, got [1]` into
    `must be a string or a number, got [1]`."""
    head, separator, given = first.rpartition(", got ")
    other, other_separator, other_given = second.rpartition(", got ")
    if not (separator and other_separator and given == other_given):
        return None
    if not (head.startswith("must be ") and other.startswith("must be ")):
        return None
    choices = head.removeprefix("must be ").replace(" or ", ", ").split(", ")
    choices.append(other.removeprefix("must be "))
    listed = ", ".join(choices[:-1]) + " or " + choices[-1]
    return f"must be {listed}, got {given}"


def _problem(detail: ErrorDetails, prefix: Sequence[str | int]) -> Problem:
    kind = detail["type"]
    location = [*prefix, *(part for part in detail["loc"] if not _is_internal(part, kind))]
    if kind == "missing" and location:
        return Problem(_render_path(location[:-1]), f"{location[-1]!r} is required")
    if len(location) >= 2 and location[-1] == "[key]":  # (..., "kwargs", 1, "[key]"): a bad key
        return Problem(_render_path(location[:-2]), f"keys must be strings, got {_shown(location[-2])}")
    return Problem(_render_path(location), _message(detail))


def _is_internal(part: str | int, kind: str) -> bool:
    """Union tags and validator names that pydantic adds to locations. A branch name
    (`str`, `int`...) is kept in our own errors, where it can only be a user's key
    (`kwargs: {int: 2020-01-01}`)."""
    if not isinstance(part, str):
        return False
    if part.startswith("form:") or part.startswith("function-"):
        return True
    return part in _TYPE_BRANCHES and kind not in _CUSTOM


# Branch names pydantic adds for `float | datetime` style unions.
_TYPE_BRANCHES = frozenset(
    {"float", "int", "str", "bool", "datetime", "constrained-float", "constrained-str"}
)


def _render_path(location: Sequence[str | int]) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _message(detail: ErrorDetails) -> str:
    kind = detail["type"]
    context = detail.get("ctx") or {}
    given = _shown(detail.get("input"))
    if kind in _CUSTOM:
        return detail["msg"]
    if kind == "greater_than_equal":
        return f"must be at least {_number(context['ge'])}, got {given}"
    if kind == "greater_than":
        return f"must be greater than {_number(context['gt'])}, got {given}"
    if kind == "less_than_equal":
        return f"must be at most {_number(context['le'])}, got {given}"
    if kind == "too_short":
        return f"must have at least {context['min_length']} item(s)"
    if kind == "string_too_short":
        least = context.get("min_length", 1)
        return "must not be empty" if least == 1 else f"must have at least {least} characters, got {given}"
    if kind == "string_pattern_mismatch":
        return f"{given} is not valid here (expected {_pattern_meaning(str(context.get('pattern', '')))})"
    if kind == "literal_error":
        return f"must be {context['expected']}, got {given}"
    if kind in ("timezone_aware", "datetime_parsing", "datetime_from_date_parsing", "datetime_type"):
        return f"must be an RFC 3339 time with a timezone, such as 2030-01-01T00:00:00Z; got {given}"
    if kind in _TYPE_NAMES or kind.endswith("_type") or kind.endswith("_parsing"):
        return f"must be {_TYPE_NAMES.get(kind, kind.removesuffix('_type'))}, got {given}"
    text = detail["msg"]
    return f"{text[:1].lower()}{text[1:]}, got {given}"


_CUSTOM = frozenset(
    {
        "unknown_field",
        "not_json",
        "canvas_type",
        "plain_task_name",
        "canvas_ambiguous",
        "canvas_form_missing",
        "starmap_item",
        "code_source",
        "expires_type",
        "bool_not_number",
    }
)

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _pattern_meaning(pattern: str) -> str:
    if pattern == MODULE_NAME:
        return "a dotted Python name, such as 'conftasks.add'"
    if pattern == TASK_NAME:
        return "a task name without spaces, such as 'conftasks.add'"
    if pattern == TASK_ID:
        return "a task id without spaces, such as a UUID"
    if pattern.startswith("^[a-z0-9]"):
        return "a lowercase DNS name: letters, digits, '-' and '.'"
    return f"a value matching {pattern}"


def _number(value: object) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
