"""Whether the tasks a Workflow names exist in a directory of task code, read, never run.

`kubecanvas lint` and `kubecanvas run` look at the code directory (`--code`, by default the
file's own) before anything runs, so that a misspelt task (`conftasks.ad`) is named with its
field path there, not found only when its pod or process starts. Modules are parsed with
`ast`, not imported: checking a file must not execute it. A name this cannot settle (a
module not in the directory, installed or in the image; a `from x import *`; a registrar
that decorates dynamically) is left to the task runtime, which says `TaskImportError`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from kubecanvas._kits.suggestions import did_you_mean
from kubecanvas.canvas.names import is_import_path
from kubecanvas.errors import Problem
from kubecanvas.graph.nodes import Graph

__all__ = ["missing_tasks"]


def missing_tasks(graph: Graph, imports: Iterable[str], code_dir: Path) -> list[Problem]:
    """A problem (at the task's `.task`) for each task of `graph`, errbacks included, that the
    code in `code_dir` surely lacks."""
    imports = list(imports)
    modules: dict[str, _Module | None] = {}

    def module(name: str) -> _Module | None:
        if name not in modules:
            modules[name] = _Module.read(code_dir, name)
        return modules[name]

    registrars = [module(name) for name in imports]
    problems: list[Problem] = []
    for node in graph.every_task():
        where = f"{node.path}.task"
        if is_import_path(node.task):
            module_name, _, attribute = node.task.rpartition(".")
            found = module(module_name)
            if found is not None and not found.star and attribute not in found.names:
                hint = did_you_mean(attribute, sorted(found.names))
                problems.append(Problem(where, f"{found.file} defines no {attribute!r}{hint}"))
        elif registrars and all(found is not None and found.complete for found in registrars):
            registered = {name for found in registrars if found is not None for name in found.registered}
            if node.task not in registered:
                listed = ", ".join(imports)
                hint = did_you_mean(node.task, sorted(registered))
                problems.append(
                    Problem(
                        where,
                        f"no module of spec.imports ({listed}) registers a task named {node.task!r}{hint}",
                    )
                )
    return problems


class _Module:
    """What one module file defines at its top level, and the task names it registers."""

    def __init__(self, file: str, names: set[str], registered: set[str], star: bool, complete: bool) -> None:
        self.file, self.names, self.registered, self.star, self.complete = (
            file,
            names,
            registered,
            star,
            complete,
        )

    @classmethod
    def read(cls, code_dir: Path, name: str) -> _Module | None:
        base = code_dir.joinpath(*name.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                try:
                    tree = ast.parse(candidate.read_text(encoding="utf-8"), str(candidate))
                except (SyntaxError, UnicodeDecodeError, ValueError):
                    return None  # the runtime's import will say what is wrong with it
                return cls._of(tree, str(candidate.relative_to(code_dir)))
        return None

    @classmethod
    def _of(cls, tree: ast.Module, file: str) -> _Module:
        names: set[str] = set()
        registered: set[str] = set()
        star = False
        complete = True  # every registration it makes is one this can read
        for statement in tree.body:
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(statement.name)
                for decorator in statement.decorator_list:
                    if isinstance(decorator, ast.Call):
                        for keyword in decorator.keywords:
                            if keyword.arg == "name":
                                if isinstance(keyword.value, ast.Constant) and isinstance(
                                    keyword.value.value, str
                                ):
                                    registered.add(keyword.value.value)
                                else:
                                    complete = False
            elif isinstance(statement, ast.Assign | ast.AnnAssign | ast.AugAssign):
                targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                for target in targets:
                    names.update(node.id for node in ast.walk(target) if isinstance(node, ast.Name))
            elif isinstance(statement, ast.Import | ast.ImportFrom):
                for alias in statement.names:
                    if alias.name == "*":
                        star = True
                    else:
                        names.add(alias.asname or alias.name.split(".")[0])
            else:
                complete = False if isinstance(statement, ast.If | ast.Try | ast.With | ast.For) else complete
                if isinstance(statement, ast.If | ast.Try | ast.With | ast.For | ast.While):
                    star = True  # names defined conditionally: not settled here
        return cls(file, names, registered, star, complete)
