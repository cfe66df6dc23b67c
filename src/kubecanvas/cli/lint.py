"""`kubecanvas lint FILE...`: validate Workflow and CronWorkflow files offline, as the cluster would."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kubecanvas.cli.errors import EXIT_FAILED, EXIT_OK

__all__ = ["lint", "workflow_problems", "workflow_warnings"]


def lint(
    files: Annotated[
        list[Path],
        typer.Argument(help="Workflow or CronWorkflow YAML files.", show_default=False, metavar="FILE"),
    ],
    code: Annotated[
        Path | None,
        typer.Option(
            "--code",
            help="Directory of the task code, as for `kubecanvas run` (default: each FILE's own): "
            "task names it surely lacks are problems. Read, never run.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check Workflow and CronWorkflow files: YAML syntax (line numbers), every field (its path),
    and the task names against the code next to them."""
    invalid = 0
    for path in files:
        problems = workflow_problems(path, code if code is not None else path.resolve().parent)
        if problems:
            invalid += 1
        for problem in problems:
            typer.echo(f"{path}: {problem}")
        for note in workflow_warnings(path) if not problems else []:
            typer.echo(f"{path}: warning: {note}")
    if invalid:
        typer.echo(f"{invalid} of {len(files)} file(s) invalid", err=True)
        raise typer.Exit(EXIT_FAILED)
    typer.echo(f"OK: {len(files)} workflow file(s) valid")
    raise typer.Exit(EXIT_OK)


def workflow_problems(path: Path, code_dir: Path | None = None) -> list[str]:
    """What is wrong with the Workflow (or CronWorkflow) in `path`, one line each (none: it is
    valid); with `code_dir`, also each task name the code there surely lacks."""
    from kubecanvas.check import check, checked_spec
    from kubecanvas.errors import InvalidWorkflow
    from kubecanvas.local.code_names import missing_tasks
    from kubecanvas.local.files import load_yaml

    try:
        document = load_yaml(path.read_text(encoding="utf-8"))
    except InvalidWorkflow as error:  # YAML syntax, with line numbers
        return [str(problem) for problem in error.problems] or [str(error)]
    except UnicodeDecodeError as error:
        return [f"not a text file: {error.reason}"]
    except OSError as error:
        return [f"cannot read it: {error.strerror or error}"]
    problems = check(document)
    if problems or code_dir is None or not code_dir.is_dir():
        return [str(problem) for problem in problems]
    cron = document.get("kind") == "CronWorkflow"
    spec = document["spec"]["workflowSpec"] if cron else document["spec"]
    checked = checked_spec(spec, "spec.workflowSpec" if cron else "spec")
    return [str(problem) for problem in missing_tasks(checked.graph, checked.spec.imports, code_dir)]


def workflow_warnings(path: Path) -> list[str]:
    """What is valid in `path` but probably not meant (`kubecanvas.check.warnings`)."""
    from kubecanvas.check import warnings
    from kubecanvas.local.files import load_yaml

    return [str(problem) for problem in warnings(load_yaml(path.read_text(encoding="utf-8")))]
