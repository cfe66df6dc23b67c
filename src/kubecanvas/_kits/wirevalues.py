"""Task arguments and results on the wire: JSON plus Celery's extensions, in Celery's form.

Celery's JSON serializer (kombu.utils.json) carries `datetime`, `date`, `time`, `Decimal`,
`UUID` and `bytes` as envelopes `{"__type__": ..., "__value__": ...}`; a Celery program
passes them without a second thought. The same envelopes are used here, so a value reads
the same in a Workflow's YAML, in Redis and in a Celery message, and comes back as the type
it was: encoded where a value leaves Python (the SDK, a task's result), decoded where it
enters it again (a task's call, a result read by the client). Nothing else is carried: no
pickle, and no envelope names a class to import. Naive datetimes stay naive, as in Celery.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from kubecanvas._kits.jsonvalues import JSON, to_json_value
from kubecanvas.errors import NotJSONError

__all__ = ["from_wire", "to_wire"]

_TYPE, _VALUE = "__type__", "__value__"

# Order matters: a datetime is a date too.
_ENCODERS: tuple[tuple[type, str, Callable[[Any], JSON]], ...] = (
    (datetime, "datetime", datetime.isoformat),
    (date, "date", date.isoformat),
    (time, "time", time.isoformat),
    (Decimal, "decimal", str),
    (uuid.UUID, "uuid", lambda value: {"hex": value.hex}),
)
_DECODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": datetime.fromisoformat,
    "date": lambda text: datetime.fromisoformat(text).date(),
    "time": time.fromisoformat,
    "decimal": Decimal,
    "uuid": lambda fields: uuid.UUID(hex=fields["hex"]),
    "bytes": lambda text: text.encode("utf-8"),
    "base64": lambda text: base64.b64decode(text.encode("utf-8")),
}


def _envelope(kind: str, value: JSON) -> JSON:
    return {_TYPE: kind, _VALUE: value}


def _extension(value: object) -> JSON:
    for kind, marker, encode in _ENCODERS:
        if isinstance(value, kind):
            return _envelope(marker, encode(value))
    if isinstance(value, bytes | bytearray):
        try:
            return _envelope("bytes", bytes(value).decode("utf-8"))
        except UnicodeDecodeError:
            return _envelope("base64", base64.b64encode(value).decode("utf-8"))
    raise NotJSONError("", value)


def to_wire(value: object, path: str = "") -> JSON:
    """`value` as JSON with Celery's envelopes; NotJSONError (with the path) for anything else."""
    return to_json_value(value, path, _extension)


def from_wire(value: JSON) -> Any:
    """`value` with every envelope made the Python value again (Celery's `object_hook`).
    An envelope of an unknown kind is left as it is: data never chooses code."""
    if isinstance(value, list):
        return [from_wire(item) for item in value]
    if isinstance(value, dict):
        if value.keys() == {_TYPE, _VALUE} and isinstance(kind := value[_TYPE], str):
            decode = _DECODERS.get(kind)
            if decode is not None:
                try:
                    return decode(value[_VALUE])
                except (TypeError, ValueError, KeyError, ArithmeticError):
                    return value  # a malformed envelope stays the data it is
        return {key: from_wire(item) for key, item in value.items()}
    return value
