"""JSON values: the only kind of data kubecanvas moves between tasks. Nothing is pickled."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TypeAlias

from kubecanvas.errors import NotJSONError

JSON: TypeAlias = bool | int | float | str | list["JSON"] | dict[str, "JSON"] | None
JSONObject: TypeAlias = dict[str, JSON]


def to_json_value(value: object, path: str = "", extend: Callable[[object], JSON] | None = None) -> JSON:
    """Return `value` as plain JSON data (tuples become lists), or raise NotJSONError.

    This is stricter than `json.dumps`: NaN and infinities, non-string keys and
    arbitrary objects are refused rather than silently converted. `extend` may turn
    other leaf values into JSON (raising NotJSONError for what it does not take either):
    `wirevalues` passes Celery's extensions so.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise NotJSONError(path, value)
    if isinstance(value, list | tuple):
        return [to_json_value(item, f"{path}[{index}]", extend) for index, item in enumerate(value)]
    if isinstance(value, dict):
        result: dict[str, JSON] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotJSONError(f"{path}{{key {key!r}}}", key)
            result[key] = to_json_value(item, f"{path}.{key}" if path else key, extend)
        return result
    if extend is not None:
        try:
            return extend(value)
        except NotJSONError:
            pass
    raise NotJSONError(path, value)


def dumps(value: JSON) -> str:
    """Compact, deterministic JSON text."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def loads(text: str | bytes) -> JSON:
    value: JSON = json.loads(text)
    return value
