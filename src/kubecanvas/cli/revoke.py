"""`kubecanvas revoke NAME`: cancel a workflow (`spec.revoke: true`)."""

from __future__ import annotations

import typer

from kubecanvas.cli.clusteropts import FINISHED, NameArgument, NamespaceOption
from kubecanvas.cli.errors import EXIT_OK

__all__ = ["revoke"]


def revoke(name: NameArgument, namespace: NamespaceOption = None) -> None:
    """Revoke a workflow: nothing new starts, running tasks are killed, it ends Revoked.

    A workflow that already finished is left as it is."""
    from kubecanvas.cli.clusteropts import connect, namespace_of

    target = namespace_of(namespace)
    api = connect()
    body = api.get(target, name)
    phase = (body.get("status") or {}).get("phase")
    if phase in FINISHED:
        typer.echo(f"workflow/{name} already finished ({phase}); nothing to revoke", err=True)
        raise typer.Exit(EXIT_OK)
    api.patch(target, name, {"spec": {"revoke": True}})
    typer.echo(f"workflow/{name} revoked")
    raise typer.Exit(EXIT_OK)
