"""Resource quantities as the downward API reads them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kubecanvas_nodeagent.quantity import divide_up, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("500m", Decimal("0.5")),
        ("1Ki", 1024),
        ("2Gi", 2 * 2**30),
        ("1k", 1000),
        ("1e3", 1000),
        (3, 3),
    ],
)
def test_parse(text: str | int, value: Decimal | int) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1Qi", "--1"])
def test_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="invalid quantity"):
        parse_quantity(text)


def test_divide_up() -> None:
    assert divide_up(Decimal("0.25"), Decimal("0.001")) == 250
    assert divide_up(Decimal(100 * 2**20), Decimal(2**30)) == 1
