"""A container's environment and command line, resolved the way the kubelet resolves them.

Pure functions over the Pod and the ConfigMaps/Secrets it references (fetched by the caller),
so every rule here (envFrom before env, ``$(VAR)`` expansion, optional references, the
kubelet's error messages) is unit-tested without a cluster.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from kubecanvas_nodeagent.kubetypes import ConfigMap, Container, EnvVar, KeySelector, Pod, Secret
from kubecanvas_nodeagent.quantity import divide_up, parse_quantity

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")


class ContainerConfigError(Exception):
    """The container references configuration that is missing: the kubelet's CreateContainerConfigError."""


@dataclass(frozen=True)
class PodFacts:
    """What the downward API can expose beyond the Pod object itself."""

    host_ip: str
    pod_ip: str
    node_allocatable: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class ReferencedObjects:
    """ConfigMaps and Secrets by name; None records that the object does not exist."""

    configmaps: Mapping[str, ConfigMap | None] = field(default_factory=dict)
    secrets: Mapping[str, Secret | None] = field(default_factory=dict)


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Expand ``$(VAR)`` like the kubelet: ``$$`` escapes, unknown references stay as written."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 >= len(text):
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(" and (end := text.find(")", i + 2)) != -1:
            name = text[i + 2 : end]
            out.append(variables.get(name, text[i : end + 1]))
            i = end + 1
        else:
            out.append("$" + following)
            i += 2
    return "".join(out)


def _format_map(values: Mapping[str, str]) -> str:
    """The downward API's rendering of labels/annotations: sorted ``key="value"`` lines."""
    return "\n".join(f"{key}={json.dumps(values[key])}" for key in sorted(values))


def field_value(pod: Pod, field_path: str, facts: PodFacts) -> str:
    """Resolve a downward-API fieldRef path against the pod."""
    meta = pod.get("metadata", {})
    spec = pod.get("spec", {})
    if subscript := _SUBSCRIPT.match(field_path):
        kind, key = subscript.groups()
        source = meta.get("labels", {}) if kind == "labels" else meta.get("annotations", {})
        return source.get(key, "")
    simple: dict[str, str] = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "metadata.labels": _format_map(meta.get("labels", {})),
        "metadata.annotations": _format_map(meta.get("annotations", {})),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": facts.host_ip,
        "status.hostIPs": facts.host_ip,
        "status.podIP": facts.pod_ip,
        "status.podIPs": facts.pod_ip,
    }
    if field_path not in simple:
        raise ContainerConfigError(f"unsupported fieldRef fieldPath {field_path!r}")
    return simple[field_path]


def resource_value(
    pod: Pod, container_name: str, resource: str, divisor: str | int | None, facts: PodFacts
) -> str:
    """Resolve a resourceFieldRef: a limit falls back to the node's allocatable, a request to 0."""
    containers = [*pod.get("spec", {}).get("containers", []), *pod.get("spec", {}).get("initContainers", [])]
    container = next((c for c in containers if c.get("name") == container_name), None)
    if container is None:
        raise ContainerConfigError(f"resourceFieldRef names unknown container {container_name!r}")
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or not name:
        raise ContainerConfigError(f"unsupported resourceFieldRef resource {resource!r}")
    resources = container.get("resources", {})
    declared = resources.get("limits", {}) if kind == "limits" else resources.get("requests", {})
    try:
        if name in declared:
            amount = parse_quantity(declared[name])
        elif kind == "limits":
            amount = facts.node_allocatable.get(name, Decimal(0))
        else:
            amount = Decimal(0)
        unit = parse_quantity(divisor) if divisor not in (None, "", 0, "0") else Decimal(1)
        return str(divide_up(amount, unit))
    except ValueError as error:
        raise ContainerConfigError(f"resourceFieldRef {resource}: {error}") from error


def secret_value(encoded: str) -> str:
    """Decode a Secret's base64 value; bytes that are not UTF-8 survive as surrogate escapes."""
    return base64.b64decode(encoded).decode("utf-8", errors="surrogateescape")


def referenced_objects(containers: Iterable[Container]) -> tuple[set[str], set[str]]:
    """Names of the ConfigMaps and Secrets the containers' env and envFrom read."""
    configmaps: set[str] = set()
    secrets: set[str] = set()
    for container in containers:
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                configmaps.add(source["configMapRef"].get("name", ""))
            if "secretRef" in source:
                secrets.add(source["secretRef"].get("name", ""))
        for var in container.get("env", []):
            value_from = var.get("valueFrom", {})
            if "configMapKeyRef" in value_from:
                configmaps.add(value_from["configMapKeyRef"].get("name", ""))
            if "secretKeyRef" in value_from:
                secrets.add(value_from["secretKeyRef"].get("name", ""))
    return configmaps, secrets


def _key_ref(pod: Pod, selector: KeySelector, objects: ReferencedObjects, *, secret: bool) -> str | None:
    """One key of a ConfigMap or Secret; None when the reference is optional and absent."""
    name = selector.get("name", "")
    key = selector.get("key", "")
    optional = selector.get("optional", False)
    namespace = pod.get("metadata", {}).get("namespace", "")
    kind = "Secret" if secret else "ConfigMap"
    obj = objects.secrets.get(name) if secret else objects.configmaps.get(name)
    if obj is None:
        if optional:
            return None
        raise ContainerConfigError(f'{"secret" if secret else "configmap"} "{name}" not found')
    data = obj.get("data", {})
    if key not in data:
        if optional:
            return None
        raise ContainerConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
    return secret_value(data[key]) if secret else data[key]


def _env_from(pod: Pod, container: Container, objects: ReferencedObjects) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        ref = source.get("configMapRef") or source.get("secretRef") or {}
        secret = "secretRef" in source
        name = ref.get("name", "")
        obj = objects.secrets.get(name) if secret else objects.configmaps.get(name)
        if obj is None:
            if ref.get("optional", False):
                continue
            raise ContainerConfigError(f'{"secret" if secret else "configmap"} "{name}" not found')
        for key, value in obj.get("data", {}).items():
            if _ENV_NAME.match(prefix + key):  # the kubelet skips keys that are not valid names
                env[prefix + key] = secret_value(value) if secret else value
    return env


def _env_var(
    pod: Pod,
    var: EnvVar,
    *,
    container_name: str,
    env: Mapping[str, str],
    facts: PodFacts,
    objects: ReferencedObjects,
) -> str | None:
    if "valueFrom" not in var:
        return expand(var.get("value", ""), env)
    source = var["valueFrom"]
    if "fieldRef" in source:
        return field_value(pod, source["fieldRef"].get("fieldPath", ""), facts)
    if "resourceFieldRef" in source:
        ref = source["resourceFieldRef"]
        target = ref.get("containerName") or container_name
        return resource_value(pod, target, ref.get("resource", ""), ref.get("divisor"), facts)
    if "configMapKeyRef" in source:
        return _key_ref(pod, source["configMapKeyRef"], objects, secret=False)
    if "secretKeyRef" in source:
        return _key_ref(pod, source["secretKeyRef"], objects, secret=True)
    raise ContainerConfigError(f"env var {var.get('name')!r} has an unsupported valueFrom")


def container_env(
    pod: Pod,
    container: Container,
    facts: PodFacts,
    objects: ReferencedObjects,
    service_env: Mapping[str, str],
) -> dict[str, str]:
    """The variables the pod defines for a container, in the kubelet's order of precedence.

    envFrom comes first, then env in order (each value may expand variables defined before it,
    and the service variables); later definitions win.
    """
    env = dict(service_env)
    env.update(_env_from(pod, container, objects))
    for var in container.get("env", []):
        value = _env_var(
            pod, var, container_name=container.get("name", ""), env=env, facts=facts, objects=objects
        )
        if value is not None:
            env[var.get("name", "")] = value
    return env


def command_line(container: Container, env: Mapping[str, str]) -> list[str]:
    """command + args with ``$(VAR)`` expanded against the container's environment."""
    return [expand(part, env) for part in [*container.get("command", []), *container.get("args", [])]]
