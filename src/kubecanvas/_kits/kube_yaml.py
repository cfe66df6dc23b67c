"""YAML read as `kubectl` reads it, so that one file means one thing everywhere.

kubectl turns YAML into JSON with sigs.k8s.io/yaml, on go-yaml's YAML 1.1 rules: an unquoted
`y`, `Y`, `n` or `N` is a boolean (PyYAML's safe loader keeps them strings), a mapping key
that is not a string becomes one (`{y: 1}` arrives as `{"true": 1}`), and a date stays the
string it was written as (PyYAML makes it a `date`). `kubecanvas run` and
`lint` read a file with these same rules, so what they accept or refuse is what `kubectl apply`
sends; `kubecanvas.check.warnings` then points at the keys such an accident makes.

One difference is kept on purpose: a key given twice in one mapping is refused here, where
kubectl keeps the last one silently (a copy-paste slip would become another workflow).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["KubeYAMLLoader", "load_all"]


class KubeYAMLLoader(yaml.SafeLoader):
    """SafeLoader with go-yaml's YAML 1.1 booleans, string keys, and no duplicate keys."""


# go-yaml v2's booleans (resolve.go), where PyYAML lacks y, Y, n and N; no timestamps.
_REPLACED = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp"}
KubeYAMLLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _REPLACED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
KubeYAMLLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"),
    list("yYnNtTfFoO"),
)
_BOOLEANS = {
    **dict.fromkeys(("y", "yes", "true", "on"), True),
    **dict.fromkeys(("n", "no", "false", "off"), False),
}


def _construct_bool(loader: KubeYAMLLoader, node: yaml.ScalarNode) -> bool:
    return _BOOLEANS[str(loader.construct_scalar(node)).lower()]


def _json_key(key: Any) -> Any:
    """A mapping key as sigs.k8s.io/yaml writes it into JSON."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, int | float):
        return str(key)
    return key


def _construct_mapping(loader: KubeYAMLLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    loader.flatten_mapping(node)  # `<<` merge keys, as SafeLoader does
    mapping: dict[Any, Any] = {}
    seen: dict[object, yaml.Node] = {}
    for key_node, value_node in node.value:
        key = _json_key(loader.construct_object(key_node, deep=True))
        if isinstance(key, str):
            if key in seen:
                first = seen[key].start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {first.line + 1})", key_node.start_mark
                )
            seen[key] = key_node
        try:
            mapping[key] = loader.construct_object(value_node, deep=deep)
        except TypeError:  # pragma: no cover - an unhashable key (a mapping as a key)
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping or a list cannot be a key", key_node.start_mark
            ) from None
    return mapping


KubeYAMLLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
KubeYAMLLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_all(text: str) -> list[Any]:
    """Every non-empty document of `text`; yaml.YAMLError (with its marks) when it is not YAML."""
    return [document for document in yaml.load_all(text, Loader=KubeYAMLLoader) if document is not None]
