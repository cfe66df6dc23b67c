"""Values Celery's JSON serializer carries (datetime, Decimal, UUID, bytes, ...) reach a task
as those types and come back as them: in the YAML as Celery's envelopes, run eagerly here."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sdk_tasks import add, describe_values

from kubecanvas import InvalidWorkflow

WHEN = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
IDENT = uuid.UUID("2f0c6d2e-4f8b-4a8e-9b39-1c1f7c2a3d4e")


def test_celery_values_are_written_as_celerys_envelopes() -> None:
    canvas = describe_values.s(WHEN, Decimal("1.10"), IDENT, b"abc").to_canvas()
    assert canvas["args"] == [
        {"__type__": "datetime", "__value__": "2026-12-04T15:30:00+00:00"},
        {"__type__": "decimal", "__value__": "1.10"},
        {"__type__": "uuid", "__value__": {"hex": IDENT.hex}},
        {"__type__": "bytes", "__value__": "abc"},
    ]


def test_a_task_receives_and_returns_them_as_their_types() -> None:
    result = describe_values.s(WHEN, Decimal("1.10"), IDENT, b"abc").apply()
    assert result.get() == {
        "later": datetime(2026, 12, 5, 15, 30, tzinfo=UTC),
        "double": Decimal("2.20"),
        "ident": IDENT,
        "blob": b"cba",
    }


def test_other_values_are_still_refused_with_their_field_path() -> None:
    with pytest.raises(InvalidWorkflow, match=r"canvas\.args\[1\]: set \{1\} is not a JSON value"):
        add.s(1, {1}).to_canvas()


def test_serializer_json_is_accepted_and_others_are_refused() -> None:
    assert add.s(1, 2).set(serializer="json").to_canvas() == add.s(1, 2).to_canvas()
    with pytest.raises(InvalidWorkflow, match=r"serializer 'pickle' is not supported: .*pickle never"):
        add.s(1, 2).set(serializer="pickle")
