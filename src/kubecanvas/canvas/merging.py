"""How task options combine: the one rule, for the compiler and for the SDK's `.set()`.

Options merge field by field, the more specific over the more general: `spec.defaults` <
options of enclosing chains, groups and chords (outermost first) < the task's own options <
options given at call time. Mappings (`retries`, `resources`, `nodeSelector`, `headers`)
merge key by key; `env` merges by variable name; lists such as `tolerations` are replaced whole.

Pure JSON, no pydantic: task pods import the SDK, and with it this module.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from kubecanvas._kits.jsonvalues import JSON, JSONObject

__all__ = ["merge_options"]

_MAPPINGS_MERGED_BY_KEY = frozenset({"retries", "resources", "nodeSelector", "headers"})


def merge_options(*layers: Mapping[str, JSON] | None) -> JSONObject:
    """Merge option mappings, later layers winning field by field (values are copied)."""
    merged: JSONObject = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            current = merged.get(key)
            if key in _MAPPINGS_MERGED_BY_KEY and isinstance(current, dict) and isinstance(value, dict):
                merged[key] = _merge_mapping(current, value)
            elif key == "env" and isinstance(current, list) and isinstance(value, list):
                merged[key] = _merge_env(current, value)
            else:
                merged[key] = copy.deepcopy(value)
    return merged


def _merge_mapping(base: Mapping[str, JSON], top: Mapping[str, JSON]) -> JSONObject:
    result: JSONObject = dict(base)
    for key, value in top.items():
        current = result.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            result[key] = _merge_mapping(current, value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_env(base: list[JSON], top: list[JSON]) -> list[JSON]:
    """By variable name: a variable set again replaces the earlier one, in the later place."""

    def name(item: JSON) -> JSON:
        return item.get("name") if isinstance(item, dict) else None

    overridden = {name(item) for item in top} - {None}
    return [item for item in base if name(item) not in overridden] + copy.deepcopy(top)
