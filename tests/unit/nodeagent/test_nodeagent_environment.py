"""Env resolution and $(VAR) expansion: the kubelet's rules, without a cluster."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest

from kubecanvas_nodeagent.environment import (
    ContainerConfigError,
    PodFacts,
    ReferencedObjects,
    command_line,
    container_env,
    expand,
    field_value,
    referenced_objects,
)
from kubecanvas_nodeagent.kubetypes import Container, Pod

FACTS = PodFacts(
    host_ip="127.0.0.1", pod_ip="127.0.0.1", node_allocatable={"cpu": Decimal(2), "memory": Decimal(2**30)}
)


def _pod(*containers: Container) -> Pod:
    return {
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "uid": "u-1",
            "labels": {"app": "a"},
            "annotations": {"k": "v"},
        },
        "spec": {"nodeName": "node", "serviceAccountName": "sa", "containers": list(containers)},
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)", "1"),
        ("x$(A)y$(B)z", "x1y2z"),
        ("$$(A)", "$(A)"),
        ("$$", "$"),
        ("$(MISSING)", "$(MISSING)"),
        ("$(A", "$(A"),
        ("cost: $5", "cost: $5"),
        ("end$", "end$"),
        ("$()", "$()"),
        ("$(cat $(A))", "$(cat $(A))"),  # the reference ends at the first ')'
    ],
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, {"A": "1", "B": "2"}) == expected


def test_env_precedence_and_expansion() -> None:
    main: Container = {
        "name": "main",
        "command": ["echo", "$(GREETING)"],
        "args": ["$(LATER)"],
        "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "P_"}, {"configMapRef": {"name": "cm"}}],
        "env": [
            {"name": "color", "value": "overridden"},
            {"name": "GREETING", "value": "hi $(color) $(LATER)"},
            {"name": "LATER", "value": "late"},
        ],
    }
    objects = ReferencedObjects(configmaps={"cm": {"data": {"color": "blue", "bad name": "skipped"}}})
    env = container_env(_pod(main), main, FACTS, objects, {"KUBERNETES_SERVICE_HOST": "127.0.0.1"})

    assert env["P_color"] == "blue"
    assert env["color"] == "overridden"  # env wins over envFrom
    assert env["GREETING"] == "hi overridden $(LATER)"  # only variables defined before it
    assert "bad name" not in env
    assert env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1"
    assert command_line(main, env) == ["echo", "hi overridden $(LATER)", "late"]


def test_field_refs() -> None:
    pod = _pod()
    assert field_value(pod, "metadata.labels['app']", FACTS) == "a"
    assert field_value(pod, "metadata.annotations['k']", FACTS) == "v"
    assert field_value(pod, "metadata.labels['absent']", FACTS) == ""
    assert field_value(pod, "metadata.labels", FACTS) == 'app="a"'
    assert field_value(pod, "spec.serviceAccountName", FACTS) == "sa"
    assert field_value(pod, "status.podIP", FACTS) == "127.0.0.1"
    with pytest.raises(ContainerConfigError, match="unsupported fieldRef"):
        field_value(pod, "spec.nonsense", FACTS)


def test_resource_refs_round_up_and_fall_back_to_allocatable() -> None:
    main: Container = {
        "name": "main",
        "resources": {"limits": {"memory": "100Mi"}, "requests": {"cpu": "250m"}},
        "env": [
            {
                "name": "MEM",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Gi"}},
            },
            {
                "name": "CPU_REQ",
                "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}},
            },
            {"name": "CPU_REQ_CORES", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu"}}},
            {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        ],
    }
    env = container_env(_pod(main), main, FACTS, ReferencedObjects(), {})
    assert env["MEM"] == "1"  # 100Mi rounded up to whole Gi
    assert env["CPU_REQ"] == "250"
    assert env["CPU_REQ_CORES"] == "1"
    assert env["CPU_LIMIT"] == "2"  # no limit: the node's allocatable


def _secret_ref(key: str, optional: bool = False) -> Container:
    return {
        "name": "main",
        "env": [
            {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": key, "optional": optional}}}
        ],
    }


def test_secret_and_configmap_refs() -> None:
    secrets = {"s": {"data": {"k": base64.b64encode(b"value").decode()}}}
    main = _secret_ref("k")
    assert container_env(_pod(main), main, FACTS, ReferencedObjects(secrets=secrets), {})["S"] == "value"

    missing = _secret_ref("nope")
    with pytest.raises(ContainerConfigError, match=r"^couldn't find key nope in Secret ns/s$"):
        container_env(_pod(missing), missing, FACTS, ReferencedObjects(secrets=secrets), {})

    optional = _secret_ref("nope", optional=True)
    assert "S" not in container_env(_pod(optional), optional, FACTS, ReferencedObjects(secrets=secrets), {})

    with pytest.raises(ContainerConfigError, match=r'^secret "s" not found$'):
        container_env(_pod(main), main, FACTS, ReferencedObjects(secrets={"s": None}), {})


def test_missing_configmap_for_env_from() -> None:
    main: Container = {"name": "main", "envFrom": [{"configMapRef": {"name": "cm"}}]}
    with pytest.raises(ContainerConfigError, match=r'^configmap "cm" not found$'):
        container_env(_pod(main), main, FACTS, ReferencedObjects(configmaps={"cm": None}), {})
    optional: Container = {"name": "main", "envFrom": [{"configMapRef": {"name": "cm", "optional": True}}]}
    assert (
        container_env(_pod(optional), optional, FACTS, ReferencedObjects(configmaps={"cm": None}), {}) == {}
    )


def test_referenced_objects() -> None:
    main: Container = {
        "name": "main",
        "envFrom": [{"secretRef": {"name": "s1"}}],
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "c1", "key": "k"}}}],
    }
    assert referenced_objects([main]) == ({"c1"}, {"s1"})
