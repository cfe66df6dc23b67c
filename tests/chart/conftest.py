"""The chart's tests run in `c-...` namespaces, which the e2e suite's operator (watching `t-*`)
never serves: each installed release's operator is the only one that sees its Workflows."""

from __future__ import annotations

import pytest


@pytest.fixture
def namespace_prefix() -> str:
    return "c"
