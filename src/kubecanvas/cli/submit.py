"""`kubecanvas submit FILE`: create the Workflow on the cluster, and maybe watch it run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from kubecanvas.cli.clusteropts import NamespaceOption, RedisOption
from kubecanvas.cli.errors import EXIT_FAILED, EXIT_OK, CliError

__all__ = ["load_manifest", "submit"]


def submit(
    file: Annotated[Path, typer.Argument(help="The Workflow YAML file.", show_default=False)],
    namespace: NamespaceOption = None,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            "-w",
            help="Follow it: a live tree of the canvas with states and durations; "
            "exit 0 if it succeeds, 1 otherwise.",
        ),
    ] = False,
    redis: RedisOption = None,
) -> None:
    """Create the Workflow in FILE on the cluster (an error if it exists already).

    Prints `workflow/NAME created`. With --watch, follows it to the end: the progress on
    stderr, the result (JSON) on stdout."""
    manifest = load_manifest(file)
    from kubecanvas.cli.clusteropts import connect, namespace_of

    declared = (manifest.get("metadata") or {}).get("namespace")
    if namespace and declared and namespace != declared:
        raise CliError(f"{file} is for namespace {declared}, but -n says {namespace}")
    target = namespace_of(namespace or declared)
    api = connect()
    started = time.time()
    manifest["metadata"] = {**(manifest.get("metadata") or {}), "namespace": target}
    body = api.create(target, manifest)
    name = body["metadata"]["name"]
    typer.echo(f"workflow/{name} created", err=watch)
    if not watch:
        raise typer.Exit(EXIT_OK)
    from kubecanvas.cli.clusteropts import state_source
    from kubecanvas.cli.watching import print_outcome
    from kubecanvas.cli.watching import watch as follow

    with state_source(api, redis) as source:
        document = follow(api, body, source)
    raise typer.Exit(print_outcome(document, target, time.time() - started))


def load_manifest(file: Path) -> dict[str, Any]:
    """The Workflow in `file` as written (to send as is), checked as the cluster would;
    problems are printed as `FILE: path: message` and end the command (exit 1)."""
    from kubecanvas.check import checked_workflow
    from kubecanvas.errors import InvalidWorkflow
    from kubecanvas.local.files import load_yaml

    try:
        text = file.read_text()
    except UnicodeDecodeError as error:
        raise CliError(f"{file}: not a text file: {error.reason}") from None
    except OSError as error:
        raise CliError(f"cannot read {file}: {error.strerror or error}") from None
    try:
        raw = load_yaml(text)
        checked_workflow(raw)
    except InvalidWorkflow as error:
        for problem in error.problems:
            typer.echo(f"{file}: {problem}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    if not isinstance(raw, dict):
        raise CliError(f"{file}: expected a Workflow mapping")
    metadata = raw.get("metadata") or {}
    if not metadata.get("name") and not metadata.get("generateName"):
        raise CliError(f"{file}: metadata.name (or metadata.generateName) is required on a cluster")
    return raw
