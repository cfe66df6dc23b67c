"""What `parse_spec` / `parse_workflow` say about a bad Workflow: `path: message`."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import yaml

from kubecanvas.canvas.validation import parse_spec, parse_workflow
from kubecanvas.errors import InvalidWorkflow, Problem

TASK: dict[str, Any] = {"task": "conftasks.add"}


def problems(spec: Any) -> list[str]:
    with pytest.raises(InvalidWorkflow) as caught:
        parse_spec(spec)
    return [str(problem) for problem in caught.value.problems]


def one_problem(spec: Any) -> str:
    found = problems(spec)
    assert len(found) == 1, found
    return found[0]


def from_yaml(text: str) -> Any:
    return yaml.safe_load(text)


# ------------------------------------------------------------------ field paths


def test_missing_field_deep_inside_names_the_full_path() -> None:
    spec = {"canvas": {"chain": [TASK, TASK, {"chord": {"header": [TASK]}}]}}
    assert one_problem(spec) == "spec.canvas.chain[2].chord: 'body' is required"


def test_path_through_group_chain_and_chord_body() -> None:
    spec = {"canvas": {"group": [TASK, {"chain": [TASK, {"chord": {"header": [], "body": {"tsk": "m.b"}}}]}]}}
    assert one_problem(spec) == (
        "spec.canvas.group[1].chain[1].chord.body: a canvas needs one of the keys "
        "task, chain, group, chord, map, starmap, chunks; found 'tsk' (did you mean 'task'?)"
    )


def test_path_into_options_of_a_link_and_a_link_error() -> None:
    spec = {
        "canvas": {**TASK, "link": {**TASK, "options": {"countdown": -1}}, "linkError": [TASK, {"task": "x"}]}
    }
    assert problems(spec) == [
        "spec.canvas.link[0].options.countdown: must be at least 0, got -1",
        "spec.canvas.linkError[1].task: 'x' is not a dotted path (module.function); a task registered "
        "under another name needs the module that registers it in spec.imports",
    ]


def test_every_problem_is_reported_at_once_in_document_order() -> None:
    spec = {
        "canvas": {
            "chain": [
                {**TASK, "options": {"countdown": -1}},
                {"task": "b"},
                {"group": [{**TASK, "chunks": {}}]},
            ]
        },
        "parallelism": 0,
    }
    assert problems(spec) == [
        "spec.canvas.chain[0].options.countdown: must be at least 0, got -1",
        "spec.canvas.chain[1].task: 'b' is not a dotted path (module.function); a task registered "
        "under another name needs the module that registers it in spec.imports",
        "spec.canvas.chain[2].group[0]: a canvas is exactly one of task, chain, group, chord, map, "
        "starmap, chunks, "
        "but this mapping has 'task' and 'chunks'",
        "spec.parallelism: must be at least 1, got 0",
    ]


def test_invalid_workflow_text_joins_the_problems() -> None:
    with pytest.raises(InvalidWorkflow) as caught:
        parse_spec({"canvas": {"chain": []}, "parallelism": 0})
    assert (
        str(caught.value)
        == "spec.canvas.chain: must have at least 1 item(s)\nspec.parallelism: must be at least 1, got 0"
    )
    assert isinstance(caught.value, ValueError)
    assert caught.value.problems[0] == Problem("spec.canvas.chain", "must have at least 1 item(s)")


def test_custom_prefix() -> None:
    with pytest.raises(InvalidWorkflow) as caught:
        parse_spec({"canvas": {"chain": []}}, path="workflow.spec")
    assert [problem.path for problem in caught.value.problems] == ["workflow.spec.canvas.chain"]


# ------------------------------------------------------------------ unknown keys


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"canvas": {"chian": [TASK]}},
            "spec.canvas: a canvas needs one of the keys task, chain, group, chord, map, starmap, chunks; "
            "found 'chian' (did you mean 'chain'?)",
        ),
        (
            {"canvas": {**TASK, "optons": {}}},
            "spec.canvas: unknown field 'optons' (did you mean 'options'?); "
            "allowed here: args, immutable, kwargs, link, linkError, options, task",
        ),
        (
            {"canvas": {"group": [{**TASK, "options": {"retries": {"max": 1, "dealy": 3}}}]}},
            "spec.canvas.group[0].options.retries: unknown field 'dealy' (did you mean 'delay'?); "
            "allowed here: autoretryFor, backoff, backoffMax, delay, jitter, max",
        ),
        (
            {"canvas": TASK, "defualts": {}},
            "spec: unknown field 'defualts' (did you mean 'defaults'?); "
            "allowed here: args, canvas, code, defaults, imports, kwargs, parallelism, revoke, "
            "ttlSecondsAfterFinished",
        ),
        (
            {"canvas": {"map": {"task": "m.a", "itmes": []}}},
            "spec.canvas.map: unknown field 'itmes' (did you mean 'items'?); allowed here: items, task",
        ),
        (
            {"canvas": TASK, "code": {"git": {"url": "u", "rev": "main"}}},
            "spec.code.git: unknown field 'rev' (did you mean 'ref'?); allowed here: path, ref, url",
        ),
        (
            {"canvas": {**TASK, "options": {"env": [{"name": "A", "valu": "x"}]}}},
            "spec.canvas.options.env[0]: unknown field 'valu' (did you mean 'value'?); allowed here: name, "
            "value, valueFrom",
        ),
        (
            {"canvas": {**TASK, "zzz": 1}},
            "spec.canvas: unknown field 'zzz'; allowed here: args, immutable, kwargs, link, linkError, "
            "options, task",
        ),
    ],
    ids=["chian", "optons", "dealy", "defualts", "itmes", "rev", "valu", "no-hint"],
)
def test_unknown_keys_with_did_you_mean(spec: dict[str, Any], expected: str) -> None:
    assert one_problem(spec) == expected


def test_two_unknown_keys_in_one_mapping() -> None:
    assert one_problem({"canvas": {**TASK, "optons": {}, "lnk": []}}) == (
        "spec.canvas: unknown fields 'optons' (did you mean 'options'?), 'lnk' (did you mean 'link'?); "
        "allowed here: args, immutable, kwargs, link, linkError, options, task"
    )


def test_workflow_level_unknown_key_and_metadata_extras() -> None:
    document = {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "Workflow",
        "metdata": {},
        "spec": {"canvas": TASK},
    }
    with pytest.raises(InvalidWorkflow) as caught:
        parse_workflow(document)
    assert [str(problem) for problem in caught.value.problems] == [
        "unknown field 'metdata' (did you mean 'metadata'?); allowed here: apiVersion, kind, metadata, "
        "spec, status"
    ]
    document["metadata"] = document.pop("metdata")
    document["metadata"] = {"name": "ok", "uid": "1234", "resourceVersion": "7", "managedFields": []}
    assert parse_workflow(document).metadata.name == "ok"


# ------------------------------------------------------------------ bad values


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"canvas": {**TASK, "options": {"countdown": -1}}},
            "spec.canvas.options.countdown: must be at least 0, got -1",
        ),
        (
            {"canvas": TASK, "defaults": {"countdown": -0.5}},
            "spec.defaults.countdown: must be at least 0, got -0.5",
        ),
        (
            {"canvas": TASK, "defaults": {"runner": "hot"}},
            "spec.defaults.runner: must be 'pod' or 'warm', got 'hot'",
        ),
        (
            {"canvas": {"chunks": {"task": "m.a", "items": [[1]], "size": 0}}},
            "spec.canvas.chunks.size: must be greater than 0, got 0",
        ),
        (
            {"canvas": {"chunks": {"task": "m.a", "items": [[1]], "size": 1.5}}},
            "spec.canvas.chunks.size: must be a whole number, got 1.5",
        ),
        (
            {"canvas": {"task": "add"}},
            "spec.canvas.task: 'add' is not a dotted path (module.function); a task registered "
            "under another name needs the module that registers it in spec.imports",
        ),
        (
            {"canvas": {"task": "conftasks.add."}},
            "spec.canvas.task: 'conftasks.add.' is not a dotted path (module.function); a task "
            "registered under another name needs the module that registers it in spec.imports",
        ),
        (
            {"canvas": {**TASK, "options": {"expires": "2030-01-01T00:00:00"}}},
            "spec.canvas.options.expires: must be a number of seconds or an RFC 3339 time such as "
            "2030-01-01T00:00:00Z, not '2030-01-01T00:00:00'",
        ),
        (
            {"canvas": {**TASK, "options": {"eta": "2030-01-01T00:00:00"}}},
            "spec.canvas.options.eta: must be an RFC 3339 time with a timezone, such as "
            "2030-01-01T00:00:00Z; "
            "got '2030-01-01T00:00:00'",
        ),
        (
            {"canvas": {**TASK, "options": {"expires": -3}}},
            "spec.canvas.options.expires: must be a number of seconds (0 or more) or an RFC 3339 time such "
            "as "
            "2030-01-01T00:00:00Z, not -3",
        ),
        (
            {"canvas": {**TASK, "options": {"expires": float("inf")}}},
            "spec.canvas.options.expires: must be a number of seconds (0 or more) or an RFC 3339 time such "
            "as "
            "2030-01-01T00:00:00Z, not inf",
        ),
        (
            {"canvas": {**TASK, "options": {"expires": True}}},
            "spec.canvas.options.expires: must be a number of seconds or an RFC 3339 time such as "
            "2030-01-01T00:00:00Z, not True",
        ),
        (
            {"canvas": {**TASK, "options": {"countdown": True}}},
            "spec.canvas.options.countdown: must be a number, not true",
        ),
        (
            {"canvas": {**TASK, "options": {"retries": {"max": True}}}},
            "spec.canvas.options.retries.max: must be a number, not true",
        ),
        (
            {"canvas": {**TASK, "options": {"priority": 300}}},
            "spec.canvas.options.priority: must be at most 255, got 300",
        ),
        (
            {"canvas": {**TASK, "options": {"timeout": 0}}},
            "spec.canvas.options.timeout: must be greater than 0, got 0",
        ),
        ({"canvas": TASK, "parallelism": True}, "spec.parallelism: must be a number, not true"),
        ({"canvas": {**TASK, "args": {"a": 1}}}, "spec.canvas.args: must be a list, got {'a': 1}"),
        (
            {"canvas": {**TASK, "kwargs": {"a": float("nan")}}},
            "spec.canvas.kwargs.a: nan is a float, not a JSON value; quote it if you meant a string",
        ),
        ({"canvas": {"group": {"task": "m.a"}}}, "spec.canvas.group: must be a list, got {'task': 'm.a'}"),
        ({"canvas": {"chain": []}}, "spec.canvas.chain: must have at least 1 item(s)"),
        (
            {"canvas": {"starmap": {"task": "m.a", "items": [1]}}},
            "spec.canvas.starmap: items[0] must be a list of arguments, not 1",
        ),
        (
            {"canvas": {"chunks": {"task": "m.a", "items": [[1], "x"], "size": 1}}},
            "spec.canvas.chunks.items: items[1] must be a list of arguments, not 'x'",
        ),
        ({"canvas": {"map": {"task": "m.a"}}}, "spec.canvas.map: 'items' is required"),
        (
            {"canvas": {**TASK, "options": {"retries": {"max": 1, "autoretryFor": ["1bad"]}}}},
            "spec.canvas.options.retries.autoretryFor[0]: '1bad' is not valid here (expected a value "
            "matching ^[A-Za-z_][\\w.]*$)",
        ),
        (
            {"canvas": 5},
            "spec.canvas: a canvas must be a mapping with one of the keys task, chain, group, chord, map, "
            "starmap, chunks, not 5",
        ),
        (
            {"canvas": {}},
            "spec.canvas: a canvas needs one of the keys task, chain, group, chord, map, starmap, chunks; "
            "found no keys",
        ),
        ({}, "spec: 'canvas' is required"),
        (None, "spec: must be a mapping, not NoneType"),
    ],
)
def test_bad_values(spec: Any, expected: str) -> None:
    assert one_problem(spec) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "canvas: {task: m.a, args: [2020-01-01]}",
            "spec.canvas.args[0]: datetime.date(2020, 1, 1) is a date, not a JSON value; quote it if you "
            "meant a string",
        ),
        (
            "canvas: {task: m.a, kwargs: {when: 2020-01-01T10:00:00Z}}",
            "spec.canvas.kwargs.when: datetime.datetime(2020, 1, 1, 10, 0, tzinfo=datetime.time... is a "
            "datetime, "
            "not a JSON value; quote it if you meant a string",
        ),
        (
            "canvas: {task: m.a, args: [!!set {a: null}]}",
            "spec.canvas.args[0]: {'a'} is a set, not a JSON value; quote it if you meant a string",
        ),
        (
            "canvas: {task: m.a, args: [[1, {2: x}]]}",
            "spec.canvas.args[0]: 2 is an int, not a JSON value (at [1]{key 2}); quote it if you meant a "
            "string",
        ),
        (
            "canvas: {map: {task: m.a, items: [[1], [2020-01-01]]}}",
            "spec.canvas.map.items[1]: datetime.date(2020, 1, 1) is a date, not a JSON value (at [0]); "
            "quote it if you meant a string",
        ),
        ("canvas: {task: m.a, kwargs: {1: a}}", "spec.canvas.kwargs: keys must be strings, got 1"),
        (
            "canvas: {task: m.a, options: {expires: 2030-01-01}}",
            "spec.canvas.options.expires: must be a number of seconds or an RFC 3339 time such as "
            "2030-01-01T00:00:00Z, not datetime.date(2030, 1, 1)",
        ),
        (
            "canvas: {task: m.a, options: {eta: 2030-01-01 10:00:00}}",
            "spec.canvas.options.eta: must be an RFC 3339 time with a timezone, such as "
            "2030-01-01T00:00:00Z; "
            "got datetime.datetime(2030, 1, 1, 10, 0)",
        ),
    ],
    ids=[
        "date-arg",
        "datetime-kwarg",
        "set",
        "int-key",
        "map-item",
        "kwargs-key",
        "expires-date",
        "naive-eta",
    ],
)
def test_yaml_values_that_are_not_json(text: str, expected: str) -> None:
    assert one_problem(from_yaml(text)) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (
            {"path": "/x", "pip": {"packages": ["a"]}},
            "spec.code: give exactly one of configMap, git, pip or path (got pip, path)",
        ),
        (
            {"configMap": {"name": "x"}, "git": {"url": "u"}},
            "spec.code: give exactly one of configMap, git, pip or path (got configMap, git)",
        ),
        ({}, "spec.code: give exactly one of configMap, git, pip or path (got none)"),
        (
            {"confgMap": {"name": "x"}},
            "spec.code: unknown field 'confgMap' (did you mean 'configMap'?); allowed here: configMap, "
            "git, path, pip",
        ),
        ({"pip": {"packages": []}}, "spec.code.pip.packages: must have at least 1 item(s)"),
    ],
)
def test_code_source(code: dict[str, Any], expected: str) -> None:
    assert one_problem({"canvas": TASK, "code": code}) == expected


@pytest.mark.parametrize(
    "canvas",
    [
        {"task": "m.a", "chain": [TASK]},
        {"group": [], "chord": {"header": [], "body": TASK}},
        {"map": {"task": "m.a", "items": []}, "starmap": {"task": "m.a", "items": []}},
    ],
)
def test_two_canvas_forms_in_one_mapping(canvas: dict[str, Any]) -> None:
    message = one_problem({"canvas": canvas})
    assert message.startswith(
        "spec.canvas: a canvas is exactly one of task, chain, group, chord, map, starmap, chunks, but this "
        "mapping has "
    )


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ([], ["a Workflow must be a mapping, not list"]),
        (
            {"apiVersion": "v1", "kind": "Pod", "spec": {"canvas": TASK}},
            ["apiVersion: must be 'kubecanvas.io/v1alpha1', got 'v1'", "kind: must be 'Workflow', got 'Pod'"],
        ),
        ({"apiVersion": "kubecanvas.io/v1alpha1", "kind": "Workflow"}, ["'spec' is required"]),
        (
            {
                "apiVersion": "kubecanvas.io/v1alpha1",
                "kind": "Workflow",
                "metadata": {"name": "Bad_Name"},
                "spec": {"canvas": TASK},
            },
            [
                "metadata.name: 'Bad_Name' is not valid here (expected a lowercase DNS name: letters, "
                "digits, '-' and '.')"
            ],
        ),
        (
            {
                "apiVersion": "kubecanvas.io/v1alpha1",
                "kind": "Workflow",
                "spec": {"canvas": {"chain": [TASK, {"chord": {}}]}},
            },
            [
                "spec.canvas.chain[1].chord: 'header' is required",
                "spec.canvas.chain[1].chord: 'body' is required",
            ],
        ),
    ],
)
def test_parse_workflow_problems(document: Any, expected: list[str]) -> None:
    with pytest.raises(InvalidWorkflow) as caught:
        parse_workflow(document)
    assert [str(problem) for problem in caught.value.problems] == expected


def test_yaml_timestamps_are_accepted_where_times_are_expected() -> None:
    spec = parse_spec(
        from_yaml(
            "canvas: {task: m.a, options: {eta: 2030-01-01T00:00:00Z, expires: 2030-01-02T00:00:00+01:00}}"
        )
    )
    assert spec.canvas.options is not None
    assert spec.canvas.options.to_json() == {
        "eta": "2030-01-01T00:00:00Z",
        "expires": "2030-01-02T00:00:00+01:00",
    }


def test_python_dates_and_tuples() -> None:
    spec = parse_spec(
        {
            "canvas": {
                "task": "m.a",
                "args": [(1, 2)],
                "options": {"eta": datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)},
            }
        }
    )
    assert spec.canvas.args == [[1, 2]]  # type: ignore[union-attr]


def test_a_user_key_named_like_a_type_stays_in_the_path() -> None:
    """Regression: a kwargs key such as `int` or `str` was dropped from the path, taken
    for the name pydantic gives to a branch of a union."""
    assert one_problem(from_yaml("canvas: {task: m.a, kwargs: {int: 2020-01-01}}")) == (
        "spec.canvas.kwargs.int: datetime.date(2020, 1, 1) is a date, not a JSON value; "
        "quote it if you meant a string"
    )


def test_union_branches_make_one_problem() -> None:
    spec = {"canvas": {**TASK, "options": {"resources": {"limits": {"cpu": [1]}}}}}
    assert one_problem(spec) == (
        "spec.canvas.options.resources.limits.cpu: must be a string, an integer or a number, got [1]"
    )


def test_a_short_task_name_is_explained_not_called_empty() -> None:
    """Regression: `task: b` said "must not be empty" (a min_length of 3 hid the pattern's message)."""
    assert one_problem({"canvas": {"task": "b"}}) == (
        "spec.canvas.task: 'b' is not a dotted path (module.function); a task registered "
        "under another name needs the module that registers it in spec.imports"
    )
    assert one_problem({"canvas": {"task": "b c"}}) == (
        "spec.canvas.task: 'b c' is not valid here (expected a task name without spaces, such as "
        "'conftasks.add')"
    )
    assert one_problem({"imports": ["proj tasks"], "canvas": {"task": "b"}}) == (
        "spec.imports[0]: 'proj tasks' is not valid here (expected a dotted Python name, such as "
        "'conftasks.add')"
    )
    assert parse_spec({"canvas": {"task": "b"}, "imports": ["proj.tasks"]}).imports == ["proj.tasks"]
    assert one_problem({"canvas": {"task": ""}}).startswith("spec.canvas.task: '' is not valid here")


def test_retries_fields_are_all_optional_so_layers_can_override_one() -> None:
    """Regression: `max` was required in every `retries` mapping, so a task could not
    override just `delay` under `spec.defaults.retries` (options merge field by field)."""
    spec = parse_spec(
        {"canvas": {**TASK, "options": {"retries": {"delay": 5}}}, "defaults": {"retries": {"max": 2}}}
    )
    assert spec.canvas.options is not None
    assert spec.canvas.options.to_json() == {"retries": {"delay": 5.0}}
