"""The ported Celery project (`programs/proj`), imported fresh by each test that asks for it,
and the current app put back afterwards."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubecanvas.sdk.calling import current, use_app

PROGRAMS = Path(__file__).parent / "programs"


@pytest.fixture
def proj(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """`proj.calls`, importable by task processes too (PYTHONPATH), its app current."""
    monkeypatch.syspath_prepend(str(PROGRAMS))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(PROGRAMS), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.delenv("KUBECANVAS_BACKEND", raising=False)
    for name in [name for name in sys.modules if name == "proj" or name.startswith("proj.")]:
        monkeypatch.delitem(sys.modules, name)
    previous = current()
    import proj.calls

    yield proj.calls
    use_app(previous)
