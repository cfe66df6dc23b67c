"""Workflow manifests out, and back in: the SDK and the YAML say the same thing."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sdk_tasks import add, mul, tsum

from kubecanvas import (
    InvalidWorkflow,
    Signature,
    chain,
    chord,
    from_canvas,
    from_workflow,
    group,
    load_workflow,
    to_workflow,
    xmap,
)
from kubecanvas.canvas.validation import parse_workflow
from kubecanvas.check import checked_spec


def test_to_workflow_builds_the_whole_manifest() -> None:
    canvas = add.s(2, 2) | mul.s(3)
    manifest = canvas.to_workflow(
        "sums",
        namespace="team-a",
        code={"config_map": {"name": "tasks"}},
        args=(1,),
        kwargs={"z": 1},
        defaults={"node_selector": {"pool": "a"}, "time_limit": 60},
        parallelism=5,
        ttl_seconds_after_finished=60,
        labels={"team": "a"},
    )
    assert manifest == {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "sums", "namespace": "team-a", "labels": {"team": "a"}},
        "spec": {
            "canvas": {
                "chain": [{"task": "conftasks.add", "args": [2, 2]}, {"task": "conftasks.mul", "args": [3]}]
            },
            "args": [1],
            "kwargs": {"z": 1},
            "code": {"configMap": {"name": "tasks"}},
            "defaults": {"nodeSelector": {"pool": "a"}, "timeout": 60},
            "parallelism": 5,
            "ttlSecondsAfterFinished": 60,
        },
    }
    assert to_workflow(canvas, "sums") == canvas.to_workflow("sums")


def test_without_a_name_the_manifest_gets_a_generate_name() -> None:
    assert tsum.map([[1]]).to_workflow()["metadata"] == {"generateName": "tsum-"}
    assert group().to_workflow()["metadata"] == {"generateName": "group-"}


def test_from_workflow_reads_yaml_text() -> None:
    text = textwrap.dedent(
        """
        apiVersion: kubecanvas.io/v1alpha1
        kind: Workflow
        metadata: {name: squares, namespace: ns}
        spec:
          canvas:
            chord:
              header: [{task: conftasks.add, args: [1, 1]}, {task: conftasks.add, args: [2, 2]}]
              body: {task: conftasks.tsum, options: {eta: 2030-01-01T00:00:00Z}}
            link_error: {task: conftasks.log_error}
          args: [3]
          defaults: {countdown: 1}
          ttlSecondsAfterFinished: 10
        """
    )
    document = from_workflow(text)
    assert document.name == "squares"
    assert document.namespace == "ns"
    assert document.args == (3,)
    assert document.defaults == {"countdown": 1}
    assert isinstance(document.canvas, chord)
    assert document.canvas.body == tsum.s().set(eta="2030-01-01T00:00:00Z")
    assert document.to_workflow() == {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "squares", "namespace": "ns"},
        "spec": {
            "canvas": {
                "chord": {
                    "header": [
                        {"task": "conftasks.add", "args": [1, 1]},
                        {"task": "conftasks.add", "args": [2, 2]},
                    ],
                    "body": {"task": "conftasks.tsum", "options": {"eta": "2030-01-01T00:00:00Z"}},
                },
                "linkError": [{"task": "conftasks.log_error"}],
            },
            "args": [3],
            "defaults": {"countdown": 1},
            "ttlSecondsAfterFinished": 10,
        },
    }


def test_load_workflow_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(
        "apiVersion: kubecanvas.io/v1alpha1\nkind: Workflow\nmetadata: {name: one}\n"
        "spec: {canvas: {task: conftasks.add, args: [2, 2]}}\n"
    )
    document = load_workflow(path)
    assert document.canvas == add.s(2, 2)
    assert document.to_workflow() == from_workflow(path.read_text()).to_workflow()


def test_from_workflow_reports_field_paths() -> None:
    with pytest.raises(InvalidWorkflow) as error:
        from_workflow(
            {"apiVersion": "kubecanvas.io/v1alpha1", "kind": "Workflow", "spec": {"canvas": {"chian": []}}}
        )
    assert [str(p) for p in error.value.problems] == [
        "spec.canvas: a canvas needs one of the keys task, chain, group, chord, map, starmap, chunks; "
        "found 'chian' (did you mean 'chain'?)"
    ]
    with pytest.raises(InvalidWorkflow, match="not valid YAML"):
        from_workflow("spec: [")


def test_from_canvas_reports_paths_from_canvas() -> None:
    with pytest.raises(InvalidWorkflow) as error:
        from_canvas({"chain": [{"task": "conftasks.add"}, {"task": "conftasks.add", "option": {}}]})
    assert str(error.value).startswith("canvas.chain[1]: unknown field 'option' (did you mean 'options'?)")


def test_from_canvas_normalises_other_spellings() -> None:
    written = {
        "task": "conftasks.add",
        "args": [],
        "kwargs": {},
        "immutable": False,
        "options": {"node_selector": {"a": "b"}, "retries": {"max": 1, "backoff_max": 3}},
        "link": {"task": "conftasks.mul", "args": [2]},
        "link_error": [],
    }
    assert from_canvas(written).to_canvas() == {
        "task": "conftasks.add",
        "options": {"nodeSelector": {"a": "b"}, "retries": {"max": 1, "backoffMax": 3}},
        "link": [{"task": "conftasks.mul", "args": [2]}],
    }


def test_reading_keeps_the_structure_as_written() -> None:
    mapping = {
        "group": [
            {"group": [{"task": "conftasks.add", "args": [1, 1]}]},
            {"chain": [{"chain": [{"task": "sdk_tasks.plain_add", "args": [1, 1]}]}]},
        ]
    }
    canvas = from_canvas(mapping)
    assert canvas.to_canvas() == mapping
    assert isinstance(canvas, group)
    assert isinstance(canvas.tasks[1], chain)
    inner = canvas.tasks[1].tasks[0]
    assert isinstance(inner, chain)
    first = inner.tasks[0]
    assert isinstance(first, Signature)
    assert first() == 2  # signatures read from YAML import their task by name


# -- the round-trip property ---------------------------------------------------------

NAMES = st.sampled_from(["conftasks.add", "conftasks.mul", "pkg.mod.func", "a.b.C.method"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
TIMES = st.sampled_from(["2030-01-01T00:00:00Z", "2031-06-01T12:30:00+02:00"])
RETRIES = st.fixed_dictionaries(
    {"max": st.integers(0, 10)},
    optional={
        "delay": st.integers(0, 10) | st.floats(0, 10),
        "backoff": st.integers(1, 4),
        "backoffMax": st.integers(1, 600),
        "jitter": st.booleans(),
        "autoretryFor": st.lists(st.sampled_from(["ValueError", "pkg.errors.Flaky"]), max_size=2),
    },
)
OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "countdown": st.integers(0, 100) | st.floats(0, 100),
        "eta": TIMES,
        "expires": st.integers(0, 100) | TIMES,
        "timeout": st.integers(1, 3600),
        "retries": RETRIES,
        "image": st.sampled_from(["python:3.11-slim", "registry.local/tasks:1"]),
        "resources": st.fixed_dictionaries(
            {}, optional={"limits": st.just({"cpu": "1"}), "requests": st.just({"memory": "64Mi"})}
        ),
        "env": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["A", "B_C"]), "value": st.text(max_size=3)}),
            max_size=2,
        ),
        "nodeSelector": st.dictionaries(st.sampled_from(["pool", "zone"]), st.text(max_size=3), max_size=2),
        "tolerations": st.lists(st.just({"key": "spot", "operator": "Exists"}), max_size=1),
        "serviceAccountName": st.just("runner"),
        "priority": st.integers(0, 255),
    },
).filter(bool)
ARGUMENT_LISTS = st.lists(st.lists(JSON_VALUES, max_size=3), max_size=4)


def _signature(name: str, args: list[Any], kwargs: dict[str, Any], immutable: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"task": name}
    if args:
        out["args"] = args
    if kwargs:
        out["kwargs"] = kwargs
    if immutable:
        out["immutable"] = True
    return out


LEAVES = (
    st.builds(
        _signature,
        NAMES,
        st.lists(JSON_VALUES, max_size=3),
        st.dictionaries(st.text(min_size=1, max_size=4), JSON_VALUES, max_size=2),
        st.booleans(),
    )
    | st.builds(
        lambda name, items: {"map": {"task": name, "items": items}}, NAMES, st.lists(JSON_VALUES, max_size=3)
    )
    | st.builds(lambda name, items: {"starmap": {"task": name, "items": items}}, NAMES, ARGUMENT_LISTS)
    | st.builds(
        lambda name, items, size: {"chunks": {"task": name, "items": items, "size": size}},
        NAMES,
        ARGUMENT_LISTS,
        st.integers(1, 4),
    )
)


def _decorate(
    node: dict[str, Any], options: dict[str, Any] | None, links: list[Any], errbacks: list[Any]
) -> dict[str, Any]:
    out = copy.deepcopy(node)
    if options:
        out["options"] = options
    if links:
        out["link"] = links
    if errbacks:
        out["linkError"] = errbacks
    return out


def _extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    nodes = (
        st.lists(children, min_size=1, max_size=3).map(lambda steps: {"chain": steps})
        | st.lists(children, max_size=3).map(lambda members: {"group": members})
        | st.builds(
            lambda header, body: {"chord": {"header": header, "body": body}},
            st.lists(children, max_size=3),
            children,
        )
    )
    return nodes | st.builds(
        _decorate,
        nodes | children,
        st.none() | OPTIONS,
        st.lists(children, max_size=2),
        st.lists(children, max_size=2),
    )


CANVASES = st.recursive(
    LEAVES | st.builds(_decorate, LEAVES, OPTIONS, st.just([]), st.just([])), _extend, max_leaves=12
)


def _admitted(mapping: dict[str, Any]) -> bool:
    try:
        checked_spec({"canvas": mapping})
    except InvalidWorkflow:
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CANVASES)
def test_every_valid_canvas_mapping_round_trips(mapping: dict[str, Any]) -> None:
    # Valid is what `kubectl apply` admits: it parses and compiles (no errback of an errback).
    assume(_admitted(mapping))
    original = copy.deepcopy(mapping)
    canvas = from_canvas(mapping)
    assert canvas.to_canvas() == original
    assert mapping == original  # reading does not change its input
    assert from_canvas(canvas.to_canvas()).to_canvas() == canvas.to_canvas()
    assert canvas.clone() == canvas

    manifest = canvas.to_workflow("round-trip")
    parse_workflow(manifest)
    assert manifest["spec"]["canvas"] == original
    assert from_workflow(manifest).to_workflow() == manifest


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=6), st.integers(1, 3))
def test_sdk_built_canvases_round_trip(numbers: list[int], size: int) -> None:
    canvas = (
        group(add.s(n, n) for n in numbers)
        | tsum.s().set(countdown=size)
        | chord([mul.s(n) for n in numbers], xmap(tsum, [numbers]).on_error(add.si(0, 0)))
        | add.chunks([[n, n] for n in numbers], size)
    )
    assert from_canvas(canvas.to_canvas()) == canvas
