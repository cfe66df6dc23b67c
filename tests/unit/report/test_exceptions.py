"""A recorded failure comes back as an exception without stored data choosing code to import."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from kubecanvas.engine.states import TaskFailure
from kubecanvas.errors import ChordError
from kubecanvas.report.exceptions import rebuild_exception


class Invalid(ValueError):
    """A task's own exception class, loaded in this process."""


def test_a_class_already_loaded_comes_back_as_itself() -> None:
    error = rebuild_exception(TaskFailure.from_exception(Invalid("bad input")))
    assert type(error) is Invalid
    assert str(error) == "bad input"


def test_builtin_and_kubecanvas_errors_come_back_as_themselves() -> None:
    assert type(rebuild_exception(TaskFailure("KeyError", "k"))) is KeyError
    chord = rebuild_exception(TaskFailure.of(ChordError, "header failed"))
    assert type(chord) is ChordError


def test_a_module_named_by_stored_data_is_never_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Task pods write failures to Redis: a name there must not make a client import code."""
    marker = tmp_path / "imported"
    (tmp_path / "planted_module.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Boom(Exception):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    error = rebuild_exception(TaskFailure("Boom", "x", module="planted_module", types=("Boom", "Exception")))
    assert not marker.exists()
    assert "planted_module" not in sys.modules
    assert type(error).__name__ == "Boom"
    assert type(error).__module__ == "planted_module"


def test_an_unknown_class_gets_a_stand_in_under_its_nearest_builtin_base() -> None:
    failure = TaskFailure(
        "Vanished",
        "gone",
        module="no_such_module",
        types=("Vanished", "no_such_module.Vanished", "LookupError", "Exception"),
    )
    error = rebuild_exception(failure)
    assert type(error).__name__ == "Vanished"
    assert str(error) == "gone"
    assert isinstance(error, LookupError)
    assert type(rebuild_exception(failure)) is type(error)  # one stand-in class per name


def test_a_loaded_attribute_that_is_not_an_exception_is_not_called() -> None:
    module = types.ModuleType("loaded_for_test")
    called: list[str] = []
    module.Boom = called.append  # type: ignore[attr-defined]
    sys.modules["loaded_for_test"] = module
    try:
        error = rebuild_exception(TaskFailure("Boom", "x", module="loaded_for_test"))
    finally:
        del sys.modules["loaded_for_test"]
    assert called == []
    assert isinstance(error, Exception)
    assert type(error).__name__ == "Boom"


def test_a_class_that_wants_other_arguments_gets_a_stand_in() -> None:
    failure = TaskFailure.from_exception(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"))
    error = rebuild_exception(failure)
    assert type(error).__name__ == "UnicodeDecodeError"
    assert isinstance(error, ValueError)
