"""Celery's tasks guide, "Names": `@app.task(name="sum-of-two-numbers")` works end to end —
the Workflow names the module that registers it (`spec.imports`), and the task runtime
imports that module, then finds the task by its name, as a Celery worker does."""

from __future__ import annotations

import pytest

from kubecanvas import InvalidWorkflow, TaskImportError, signature
from kubecanvas.execution.task_import import resolve_task


@pytest.mark.parametrize("backend", ["local", "eager"])
def test_a_task_registered_under_its_own_name_runs(proj: object, backend: str) -> None:
    from proj.celery import app
    from proj.named import add, mul

    app.conf.kubecanvas_backend = backend
    assert add.name == "sum-of-two-numbers"
    assert add.delay(2, 2).get() == 4
    assert (add.s(1, 2) | mul.s(10)).delay().get() == 30
    manifest = (add.s(1, 2) | mul.s(10)).to_workflow("named")
    assert manifest["spec"]["imports"] == ["proj.tasks", "proj.named"], (
        "the app's include, then the registrar"
    )


def test_by_name_it_is_found_once_its_module_is_imported(proj: object) -> None:
    import proj.named

    assert resolve_task("sum-of-two-numbers", ["proj.named"]) is proj.named.add
    assert signature("sum-of-two-numbers", args=(3, 4)).apply().get() == 7


@pytest.mark.parametrize("backend", ["local", "eager"])
def test_a_name_no_module_registers_fails_naming_the_modules_looked_in(proj: object, backend: str) -> None:
    from proj.celery import app

    app.conf.kubecanvas_backend = backend
    result = app.send_task("no-such-task", args=(1,))
    with pytest.raises(
        TaskImportError, match=r"no module registers a task of that name by spec.imports \(proj.tasks\)"
    ):
        result.get()


def test_a_name_that_is_no_import_path_needs_imports_and_is_refused_before_it_runs(proj: object) -> None:
    from proj.celery import app

    app.conf.include = []
    with pytest.raises(
        InvalidWorkflow,
        match=r"'no-such-task' is not a dotted path .* needs the module that registers it in spec.imports",
    ):
        app.send_task("no-such-task", args=(1,))


def test_a_module_of_imports_that_does_not_exist_is_named() -> None:
    with pytest.raises(TaskImportError, match=r"spec\.imports: module 'proj_missing' cannot be imported"):
        resolve_task("add", ["proj_missing"])
