"""`kubecanvas retry NAME`: run a failed or revoked workflow again from its failures."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from kubecanvas.cli.clusteropts import NameArgument, NamespaceOption, RedisOption
from kubecanvas.cli.errors import EXIT_OK

__all__ = ["retry"]


def retry(
    name: NameArgument,
    namespace: NamespaceOption = None,
    new_name: Annotated[
        str | None,
        typer.Option(
            "--name", help="The new Workflow's name. Default: NAME-retry-xxxxx.", show_default=False
        ),
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Follow the new workflow to its end (exit 0/1).")
    ] = False,
    redis: RedisOption = None,
) -> None:
    """Run a failed workflow again: reuse what succeeded, rerun from the failures.

    The new Workflow runs the tasks that failed, were revoked, or never ran.

    The new Workflow has the same spec and the annotation kubecanvas.io/retry-of: NAME;
    the operator copies the succeeded tasks' results into it before it starts, so they
    are not run again."""
    from kubecanvas.cli.clusteropts import connect, namespace_of
    from kubecanvas.client.reruns import retry_manifest

    target = namespace_of(namespace)
    api = connect()
    started = time.time()
    body = api.create(target, retry_manifest(api.get(target, name), new_name))
    typer.echo(f"workflow/{body['metadata']['name']} created (retry of {name})", err=watch)
    if not watch:
        raise typer.Exit(EXIT_OK)
    from kubecanvas.cli.clusteropts import state_source
    from kubecanvas.cli.watching import print_outcome
    from kubecanvas.cli.watching import watch as follow

    with state_source(api, redis) as source:
        document = follow(api, body, source)
    raise typer.Exit(print_outcome(document, target, time.time() - started))
