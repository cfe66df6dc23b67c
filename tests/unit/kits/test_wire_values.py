"""Celery's JSON extensions on the wire (`_kits/wirevalues.py`): the same envelopes as Celery's
own serializer (kombu, a dev dependency only), both ways, and nothing that names code."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from kombu.utils import json as kombu_json

from kubecanvas._kits.jsonvalues import dumps, loads
from kubecanvas._kits.wirevalues import from_wire, to_wire
from kubecanvas.errors import NotJSONError

VALUES: list[Any] = [
    datetime(2026, 12, 4, 15, 30, 1, 250000, tzinfo=UTC),
    datetime(2026, 12, 4, 15, 30, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2026, 12, 4, 15, 30),  # naive stays naive, as in Celery
    date(2026, 12, 4),
    time(15, 30, 1),
    Decimal("3.14159265358979323846"),
    uuid.UUID("2f0c6d2e-4f8b-4a8e-9b39-1c1f7c2a3d4e"),
    b"plain text",
    b"\x00\xff\x10 binary",
    {"when": date(2026, 1, 1), "items": (Decimal("1.5"), [b"x"])},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_the_wire_form_is_celerys(value: Any) -> None:
    ours = loads(dumps(to_wire(value)))
    theirs = kombu_json.loads(kombu_json.dumps(value))
    assert ours == loads(kombu_json.dumps(value))  # the very same JSON document
    assert from_wire(ours) == theirs  # read back as Celery reads it
    assert kombu_json.loads(dumps(to_wire(value))) == theirs  # and Celery reads ours


def test_plain_json_is_untouched_and_tuples_become_lists() -> None:
    value = {"a": [1, 2.5, "x", None, True], "b": (1, 2)}
    assert to_wire(value) == {"a": [1, 2.5, "x", None, True], "b": [1, 2]}
    assert from_wire(to_wire(value)) == {"a": [1, 2.5, "x", None, True], "b": [1, 2]}


def test_anything_else_is_refused_with_where_it_is() -> None:
    with pytest.raises(NotJSONError, match=r"at items\[1\]\.when is not JSON: set") as raised:
        to_wire({"items": [1, {"when": {1, 2}}]})
    assert raised.value.path == "items[1].when"
    with pytest.raises(NotJSONError, match="float nan"):
        to_wire([float("nan")])


def test_an_envelope_names_no_code_and_unknown_or_bad_ones_stay_data() -> None:
    unknown = {"__type__": "pickle", "__value__": "gASV..."}
    malformed = {"__type__": "datetime", "__value__": "not a time"}
    extra = {"__type__": "decimal", "__value__": "1", "more": 1}
    assert from_wire([unknown, malformed, extra]) == [unknown, malformed, extra]
