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
) -> None:
    """Check Workflow and CronWorkflow files: YAML syntax (line numbers) and every field (its path)."""
    invalid = 0
    for path in files:
        problems = workflow_problems(path)
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


def workflow_problems(path: Path) -> list[str]:
    """What is wrong with the Workflow (or CronWorkflow) in `path`, one line each (none: it is valid)."""
    from kubecanvas.check import check
    from kubecanvas.errors import InvalidWorkflow
    from kubecanvas.local.files import load_yaml

    try:
        document = load_yaml(path.read_text(encoding="utf-8"))
    except InvalidWorkflow as error:  # YAML syntax, with line numbers
        return [str(problem) for problem in error.problems] or [str(error)]
    except UnicodeDecodeError as error:
        return [f"not a text file: {error.reason}"]
    except OSError as error:
        return [f"cannot read it: {error.strerror or error}"]
    return [str(problem) for problem in check(document)]


def workflow_warnings(path: Path) -> list[str]:
    """What is valid in `path` but probably not meant (`kubecanvas.check.warnings`)."""
    from kubecanvas.check import warnings
    from kubecanvas.local.files import load_yaml

    return [str(problem) for problem in warnings(load_yaml(path.read_text(encoding="utf-8")))]
