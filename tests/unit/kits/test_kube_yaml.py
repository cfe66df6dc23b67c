"""YAML read as kubectl reads it (sigs.k8s.io/yaml on go-yaml's YAML 1.1 rules)."""

from __future__ import annotations

import pytest
import yaml

from kubecanvas._kits.kube_yaml import load_all
from kubecanvas.check import warnings


def test_yaml_1_1_booleans_and_string_keys_as_kubectl_sends_them() -> None:
    (document,) = load_all(
        "kwargs: {y: 1, 'n': 2, 3: three, null: nothing, 1.5: x}\n"
        "values: [y, Y, n, N, yes, off, 'y']\n"
        "when: 2030-01-01\n"
    )
    assert document == {
        "kwargs": {"true": 1, "n": 2, "3": "three", "null": "nothing", "1.5": "x"},
        "values": [True, True, False, False, True, False, "y"],
        "when": "2030-01-01",  # a string, as in the JSON kubectl sends; not a date
    }


def test_a_key_given_twice_is_refused_even_when_spelled_differently() -> None:
    with pytest.raises(yaml.YAMLError, match=r"duplicate key 'true' \(first on line 1\)"):
        load_all("kwargs: {y: 1, yes: 2}")


def test_merge_keys_still_work() -> None:
    assert load_all("base: &b {a: 1}\nmerged: {<<: *b, c: 2}") == [
        {"base": {"a": 1}, "merged": {"a": 1, "c": 2}}
    ]


def test_a_boolean_key_is_a_warning_with_its_path() -> None:
    (manifest,) = load_all(
        "spec: {canvas: {chain: [{task: m.a, kwargs: {y: 1}}, {task: m.b, kwargs: {off: 0}}]}}"
    )
    found = [(problem.path, problem.message.split(":")[0]) for problem in warnings(manifest)]
    assert found == [
        ("spec.canvas.chain[0].kwargs.true", "a key named 'true'"),
        ("spec.canvas.chain[1].kwargs.false", "a key named 'false'"),
    ]
    assert warnings({"spec": {"canvas": {"task": "m.a", "kwargs": {"yes_please": 1}}}}) == []
