"""One exception tree: every error kubecanvas defines is under KubecanvasError, in errors.py."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import kubecanvas
import kubecanvas_operator
import kubecanvas_runtime
from kubecanvas import errors

# Raised and caught inside one program or module, never seen by a user of the library.
PROGRAM_INTERNAL = {
    "kubecanvas_operator.leadership.LeadershipLost",  # the operator's main loop
    "kubecanvas.cli.errors.CliError",  # printed by the CLI and turned into an exit code
    "kubecanvas.graph.arguments.MissingResult",  # caught where results are assembled
    "kubecanvas.sdk.call_options._Bad",
    "kubecanvas.store.wire._Refused",  # retried in the wire client, then a StoreReplyError
}


def _public_classes() -> set[str]:
    return {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and value.__module__ == errors.__name__ and not name.startswith("_")
    }


def test_all_is_exactly_the_public_names() -> None:
    assert sorted(errors.__all__) == sorted(_public_classes())


def test_every_error_is_a_kubecanvas_error() -> None:
    for name in errors.__all__:
        value = getattr(errors, name)
        if issubclass(value, BaseException):
            assert issubclass(value, errors.KubecanvasError), name


def test_the_docstring_draws_every_exception() -> None:
    drawn = errors.__doc__ or ""
    for name in errors.__all__:
        if issubclass(getattr(errors, name), BaseException):
            assert f" {name}\n" in drawn or f" {name} " in drawn, (
                f"{name} is missing from the tree in errors.py's docstring"
            )


def test_the_package_offers_every_error() -> None:
    for name in errors.__all__:
        assert name in kubecanvas.__all__
        assert getattr(kubecanvas, name) is getattr(errors, name)


def test_no_exception_class_is_defined_elsewhere() -> None:
    """A new error belongs in errors.py, under the root, so that users can catch it by type."""
    found: list[str] = []
    for package in (kubecanvas, kubecanvas_operator, kubecanvas_runtime):
        for module_info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if module_info.name.endswith(("__main__", ".webhook", ".selftest")):
                continue  # programs (and the webhook, which needs its TLS settings at import)
            module = importlib.import_module(module_info.name)
            for name, value in vars(module).items():
                if (
                    inspect.isclass(value)
                    and issubclass(value, BaseException)
                    and value.__module__ == module.__name__
                    and module.__name__ != errors.__name__
                ):
                    found.append(f"{module.__name__}.{name}")
    assert sorted(set(found) - PROGRAM_INTERNAL) == []
