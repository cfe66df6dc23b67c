"""Finding a task by its name: `spec.imports` first, then an import path is followed, and
any other name is looked up among the tasks registered under it (Celery's registry)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kubecanvas.errors import TaskImportError
from kubecanvas.execution import task_import
from kubecanvas.execution.task_import import register_task, registered_module, resolve_task

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_import, "_registered", {})


def test_an_import_path_is_followed_even_when_a_stand_in_is_registered_under_it() -> None:
    import runtime_tasks

    register_task("runtime_tasks.add", "client_module", lambda x, y: "stand-in")
    assert resolve_task("runtime_tasks.add") is runtime_tasks.add


def test_another_name_is_the_registered_task_once_its_module_is_imported() -> None:
    def add(x: int, y: int) -> int:
        return x + y

    register_task("sum-of-two-numbers", "proj.named", add)
    assert registered_module("sum-of-two-numbers") == "proj.named"
    assert resolve_task("sum-of-two-numbers") is add


def test_a_dotted_name_that_is_no_path_falls_back_to_the_registry() -> None:
    def mul(x: int, y: int) -> int:
        return x * y

    register_task("proj.renamed.mul", "proj.named", mul)
    assert resolve_task("proj.renamed.mul") is mul


def test_what_was_looked_at_is_named_when_nothing_is_found() -> None:
    with pytest.raises(
        TaskImportError, match=r"no module registers a task of that name \(spec.imports is empty\)"
    ):
        resolve_task("sum-of-two-numbers")
    with pytest.raises(
        TaskImportError, match=r"no module registers a task of that name by spec.imports \(json\)"
    ):
        resolve_task("sum-of-two-numbers", ["json"])
    with pytest.raises(
        TaskImportError, match=r"module 'json' has no 'nothing'.*nor is it the name of a task"
    ):
        resolve_task("json.nothing", ["json"])
    with pytest.raises(TaskImportError, match=r"spec\.imports: module 'no_such_module' cannot be imported"):
        resolve_task("json.dumps", ["no_such_module"])
