"""`kubecanvas run FILE`: run a Workflow on this machine, no cluster needed."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kubecanvas.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError
from kubecanvas.cli.output import OutputFormat

if TYPE_CHECKING:
    from kubecanvas.canvas.model import Workflow
    from kubecanvas.local.runner import LocalRunner
    from kubecanvas.report.document import WorkflowDocument

__all__ = ["run"]


def run(
    file: Annotated[Path, typer.Argument(help="The Workflow YAML file.", show_default=False)],
    *,
    code: Annotated[
        Path | None,
        typer.Option(
            "--code",
            help="Directory of the task code, put on the tasks' PYTHONPATH (stands in for spec.code). "
            "Default: the directory of FILE.",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-j",
            min=1,
            help="Most tasks running at once (also capped by spec.parallelism). "
            "Default: the number of CPUs, at least 4.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        OutputFormat | None,
        typer.Option("--output", "-o", help="Print only the workflow document, as json or yaml."),
    ] = None,
    redis: Annotated[
        str | None,
        typer.Option(
            "--redis",
            help="Keep the workflow in this Redis (redis://host:6379/0), where the operator would.",
            show_default=False,
        ),
    ] = None,
    logs: Annotated[
        Path | None,
        typer.Option(
            "--logs",
            help="Keep each attempt's output in this directory as <task id>.<attempt>.log.",
            show_default=False,
        ),
    ] = None,
    firings: Annotated[
        int,
        typer.Option("--firings", min=1, help="A CronWorkflow: how many of its runs (its next slots)."),
    ] = 1,
    on_schedule: Annotated[
        bool,
        typer.Option("--on-schedule", help="A CronWorkflow: wait for each slot instead of running at once."),
    ] = False,
) -> None:
    """Run a Workflow locally: each task in its own process, with the real task runtime.
    A CronWorkflow runs its next `--firings` slots, named as the operator names them.

    Exits 0 when every workflow succeeded, 1 when one failed or was revoked (Ctrl-C
    revokes it; a second Ctrl-C stops at once)."""
    from kubecanvas.errors import InvalidWorkflow

    try:
        runs = _workflows(file, firings)
    except InvalidWorkflow as error:
        for problem in error.problems:
            typer.echo(f"{file}: {problem}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    except OSError as error:
        raise CliError(f"cannot read {file}: {error.strerror or error}") from None
    code_dir = code if code is not None else file.resolve().parent
    if not code_dir.is_dir():
        raise CliError(f"--code {code_dir}: not a directory")
    if runs:  # a task the code surely lacks: said now, by path, rather than when it runs
        from kubecanvas.canvas.compiler import compile_spec
        from kubecanvas.local.code_names import missing_tasks

        spec = runs[0][1].spec
        missing = missing_tasks(compile_spec(spec), spec.imports, code_dir)
        for problem in missing:
            typer.echo(f"{file}: {problem}", err=True)
        if missing:
            raise typer.Exit(EXIT_FAILED)
    interactive = output is None and sys.stdout.isatty() and sys.stderr.isatty()
    succeeded = True
    for index, (slot, workflow) in enumerate(runs):
        if on_schedule and slot is not None and slot > time.time():
            if output is None:
                typer.echo(f"kubecanvas: next run {workflow.metadata.name} at {time.ctime(slot)}", err=True)
            time.sleep(slot - time.time())
        started = time.time()
        try:
            document, runner = asyncio.run(
                _run(workflow, code_dir, concurrency, redis, logs, live=interactive, quiet=output is not None)
            )
        except asyncio.CancelledError:
            typer.echo("kubecanvas: stopped; running tasks were killed", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        if output is not None:
            from kubecanvas.cli.output import print_document

            if output == OutputFormat.yaml and index:
                sys.stdout.write("---\n")  # one YAML stream of the runs' documents
            print_document(document, output)
        else:
            from kubecanvas.cli.output import print_summary

            print_summary(document, runner.engine, time.time() - started)
        succeeded = succeeded and document["phase"] == "Succeeded"
    raise typer.Exit(EXIT_OK if succeeded else EXIT_FAILED)


def _workflows(file: Path, firings: int) -> list[tuple[int | None, Workflow]]:
    """What FILE runs: its Workflow, or a CronWorkflow's next `firings` runs with their slots."""
    from kubecanvas.check import checked_cron_workflow, checked_workflow
    from kubecanvas.local.files import load_yaml
    from kubecanvas.resources import WORKFLOW
    from kubecanvas.scheduling import run_name, run_spec

    document = load_yaml(file.read_text(encoding="utf-8"))
    if not (isinstance(document, dict) and document.get("kind") == "CronWorkflow"):
        return [(None, checked_workflow(document).workflow)]
    cron = checked_cron_workflow(document)
    name = str((document.get("metadata") or {}).get("name") or file.stem)
    runs: list[tuple[int | None, Workflow]] = []
    moment = time.time()
    for _ in range(firings):
        slot = cron.schedule.next_after(moment)
        if slot is None:
            break  # the schedule fires no more
        manifest = {
            "apiVersion": WORKFLOW.api_version,
            "kind": WORKFLOW.kind,
            "metadata": {"name": run_name(name, slot)},
            "spec": run_spec(document),
        }
        runs.append((slot, checked_workflow(manifest).workflow))
        moment = slot
    return runs


async def _run(
    workflow: Workflow,
    code_dir: Path,
    concurrency: int | None,
    redis_url: str | None,
    logs: Path | None,
    *,
    live: bool,
    quiet: bool,
) -> tuple[WorkflowDocument, LocalRunner]:
    from kubecanvas.local.runner import DEFAULT_CONCURRENCY, LocalRunner
    from kubecanvas.local.stores import open_store

    async with open_store(redis_url) as store:
        runner = LocalRunner(
            workflow,
            code_dir=code_dir,
            concurrency=concurrency or DEFAULT_CONCURRENCY,
            store=store,
            log_dir=logs,
        )
        if live:
            from kubecanvas.cli.progress import LiveProgress

            with LiveProgress(runner.name) as progress:
                runner.observer = progress
                return await _interruptible(runner), runner
        if not quiet:
            from kubecanvas.cli.progress import PlainNotices

            runner.observer = PlainNotices()
        return await _interruptible(runner), runner


async def _interruptible(runner: LocalRunner) -> WorkflowDocument:
    """The first Ctrl-C (or SIGTERM) revokes the workflow; a second one stops at once."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    presses = 0

    def interrupt() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            print("\nkubecanvas: revoking the workflow (Ctrl-C again to stop at once)", file=sys.stderr)
            runner.revoke()
        elif main is not None:
            main.cancel()

    signals = (signal.SIGINT, signal.SIGTERM)
    for number in signals:
        loop.add_signal_handler(number, interrupt)
    try:
        return await runner.run()
    finally:
        for number in signals:
            loop.remove_signal_handler(number)
