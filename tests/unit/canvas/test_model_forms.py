"""Valid Workflows of every form parse, and options merge field by field."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from kubecanvas.canvas.merging import merge_options
from kubecanvas.canvas.model import (
    Chain,
    Chord,
    Chunks,
    Group,
    MapTask,
    Signature,
    Starmap,
)
from kubecanvas.canvas.validation import parse_spec, parse_workflow

FULL_OPTIONS: dict[str, Any] = {
    "countdown": 3,
    "eta": "2030-01-01T00:00:00Z",
    "expires": 60,
    "timeout": 30,
    "retries": {
        "max": 3,
        "delay": 1.5,
        "backoff": 2,
        "backoffMax": 60,
        "jitter": True,
        "autoretryFor": ["ValueError", "app.errors.Transient"],
    },
    "image": "python:3.11-slim",
    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": 0.5}},
    "env": [
        {"name": "A", "value": "1"},
        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
    ],
    "nodeSelector": {"disk": "ssd"},
    "tolerations": [{"key": "gpu", "operator": "Exists"}],
    "serviceAccountName": "runner",
    "priority": 7,
}

FORMS: list[tuple[dict[str, Any], type]] = [
    (
        {
            "task": "conftasks.add",
            "args": [2],
            "kwargs": {"z": 1},
            "immutable": False,
            "options": FULL_OPTIONS,
        },
        Signature,
    ),
    ({"chain": [{"task": "conftasks.add", "args": [1, 1]}, {"task": "conftasks.mul", "args": [2]}]}, Chain),
    ({"group": [{"task": "conftasks.add", "args": [1, 1]}]}, Group),
    ({"group": []}, Group),
    (
        {
            "chord": {
                "header": [{"task": "conftasks.add", "args": [1, 1]}],
                "body": {"task": "conftasks.tsum"},
            }
        },
        Chord,
    ),
    ({"chord": {"header": [], "body": {"task": "conftasks.tsum"}}}, Chord),
    ({"map": {"task": "conftasks.tsum", "items": [[0, 1, 2], [3, 4]]}}, MapTask),
    ({"starmap": {"task": "conftasks.add", "items": [[1, 1], [2, 2]]}}, Starmap),
    ({"chunks": {"task": "conftasks.add", "items": [[0, 0], [1, 1], [2, 2]], "size": 2}}, Chunks),
]


@pytest.mark.parametrize(
    ("canvas", "kind"), FORMS, ids=[f"{kind.__name__}-{i}" for i, (_, kind) in enumerate(FORMS)]
)
def test_every_form_parses(canvas: dict[str, Any], kind: type) -> None:
    spec = parse_spec({"canvas": canvas})
    assert isinstance(spec.canvas, kind)


@pytest.mark.parametrize("kind", ["chain", "group", "chord"])
def test_composites_carry_options_link_and_link_error(kind: str) -> None:
    forms: dict[str, dict[str, Any]] = {
        "chain": {"chain": [{"task": "m.a"}]},
        "group": {"group": [{"task": "m.a"}]},
        "chord": {"chord": {"header": [{"task": "m.a"}], "body": {"task": "m.b"}}},
    }
    body = forms[kind]
    canvas = {**body, "options": {"countdown": 1}, "link": [{"task": "m.c"}], "linkError": {"task": "m.d"}}
    spec = parse_spec({"canvas": canvas})
    assert spec.canvas.options is not None
    assert [callback.task for callback in spec.canvas.link] == ["m.c"]  # type: ignore[union-attr]
    assert [errback.task for errback in spec.canvas.link_error] == ["m.d"]  # type: ignore[union-attr]


def test_link_as_one_mapping_means_a_list_of_one() -> None:
    one = parse_spec({"canvas": {"task": "m.a", "link": {"task": "m.b"}}})
    many = parse_spec({"canvas": {"task": "m.a", "link": [{"task": "m.b"}]}})
    assert one == many


@pytest.mark.parametrize(
    "code",
    [
        {"configMap": {"name": "tasks"}},
        {"git": {"url": "https://example.com/repo.git", "ref": "main", "path": "src"}},
        {"pip": {"packages": ["requests==2.32.3"], "indexUrl": "https://pypi.example/simple"}},
        {"path": "/opt/tasks"},
    ],
)
def test_code_sources(code: dict[str, Any]) -> None:
    assert parse_spec({"canvas": {"task": "m.a"}, "code": code}).code is not None


def test_full_workflow_document_from_yaml() -> None:
    document = yaml.safe_load(
        """
apiVersion: kubecanvas.io/v1alpha1
kind: Workflow
metadata: {name: squares, namespace: default, labels: {team: data}, uid: abc, resourceVersion: "1"}
spec:
  canvas:
    chain:
      - {task: conftasks.add, args: [2]}
      - group:
          - {task: conftasks.mul, args: [2], options: {retries: {max: 2}}}
          - {task: conftasks.identity, immutable: true, args: [1]}
        linkError: {task: conftasks.log_error}
      - {task: conftasks.xsum}
  args: [16]
  kwargs: {}
  code: {configMap: {name: conftasks}}
  defaults: {timeout: 60, priority: 1}
  parallelism: 10
  ttlSecondsAfterFinished: 0
  revoke: false
status: {phase: Running}
"""
    )
    workflow = parse_workflow(document)
    assert workflow.metadata.name == "squares"
    assert workflow.spec.parallelism == 10
    assert workflow.spec.ttl_seconds_after_finished == 0
    assert workflow.spec.args == [16]
    assert isinstance(workflow.spec.canvas, Chain)


def test_options_to_json_keeps_only_what_was_set_in_workflow_spelling() -> None:
    spec = parse_spec({"canvas": {"task": "m.a", "options": FULL_OPTIONS}})
    assert spec.canvas.options is not None
    data = spec.canvas.options.to_json()
    assert data["retries"] == {**FULL_OPTIONS["retries"], "delay": 1.5, "backoff": 2.0, "backoffMax": 60.0}
    assert data["eta"] == "2030-01-01T00:00:00Z"
    assert data["expires"] == 60.0
    assert data["serviceAccountName"] == "runner"
    assert set(data) == set(FULL_OPTIONS)
    assert parse_spec({"canvas": {"task": "m.a", "options": {}}}).canvas.options.to_json() == {}  # type: ignore[union-attr]


def test_merge_options_field_by_field() -> None:
    defaults: dict[str, Any] = {
        "countdown": 1,
        "retries": {"max": 5, "delay": 2},
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        "nodeSelector": {"zone": "a", "disk": "hdd"},
        "tolerations": [{"key": "x"}],
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
    }
    own: dict[str, Any] = {
        "retries": {"max": 1},
        "env": [{"name": "B", "value": "override"}, {"name": "C", "value": "3"}],
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [{"key": "y"}],
        "resources": {"limits": {"cpu": "2"}},
    }
    assert merge_options(defaults, None, own) == {
        "countdown": 1,
        "retries": {"max": 1, "delay": 2},
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "override"}, {"name": "C", "value": "3"}],
        "nodeSelector": {"zone": "a", "disk": "ssd"},
        "tolerations": [{"key": "y"}],  # lists other than env are replaced whole
        "resources": {"limits": {"cpu": "2", "memory": "1Gi"}},
    }
    assert defaults["retries"] == {"max": 5, "delay": 2}  # inputs are not modified
