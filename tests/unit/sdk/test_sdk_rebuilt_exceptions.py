"""A task's exception comes back with its type and its arguments, as Celery rebuilds it
(Celery's JSON for the arguments): `KeyError('missing')`, not `KeyError("'missing'")`."""

from __future__ import annotations

import builtins

import pytest
from sdk_tasks import raise_it


@pytest.mark.parametrize(
    ("kind", "args"),
    [
        ("KeyError", ("missing",)),
        ("Exception", ()),
        ("ValueError", ("bad", 3)),
        ("OSError", (2, "No such file")),
    ],
)
def test_the_exception_is_rebuilt_with_its_arguments(kind: str, args: tuple[object, ...]) -> None:
    result = raise_it.s(kind, *args).apply()
    error = result.get(propagate=False)
    raised = getattr(builtins, kind)(*args)  # what the task raised (OSError(2, ...) is a FileNotFoundError)
    assert type(error) is type(raised)
    assert error.args == raised.args
    assert str(error) == str(raised)
