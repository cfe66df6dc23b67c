"""`kubecanvas graph NAME|FILE`: the canvas as a graph, coloured by task state."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kubecanvas.cli.clusteropts import NamespaceOption, RedisOption
from kubecanvas.cli.errors import EXIT_OK, CliError

__all__ = ["GraphFormat", "graph"]


class GraphFormat(StrEnum):
    dot = "dot"
    svg = "svg"
    png = "png"


def graph(
    workflow: Annotated[
        str,
        typer.Argument(
            help="A Workflow on the cluster (its name), or a Workflow YAML file (no states).",
            show_default=False,
            metavar="NAME|FILE",
        ),
    ],
    namespace: NamespaceOption = None,
    fmt: Annotated[
        GraphFormat, typer.Option("--format", help="dot (Graphviz source), or svg/png (needs Graphviz).")
    ] = GraphFormat.dot,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of stdout.", show_default=False),
    ] = None,
    redis: RedisOption = None,
) -> None:
    """Draw the canvas as a graph (DOT, SVG or PNG), coloured by task state.

    A box per task, filled with its state's colour, arrows from the tasks it waits for.
    A file (an existing path) is drawn without states."""
    from kubecanvas.cli.canvasview import CanvasView
    from kubecanvas.cli.dotgraph import render, to_dot

    path = Path(workflow)
    if path.suffix in (".yaml", ".yml", ".json") or path.is_file():
        if not path.is_file():
            raise CliError(f"{workflow}: no such file")
        from kubecanvas.check import checked_workflow
        from kubecanvas.cli.submit import load_manifest

        manifest = load_manifest(path)
        name = str((manifest.get("metadata") or {}).get("name") or path.stem)
        view = CanvasView(name, manifest["spec"].get("canvas"), checked_workflow(manifest).graph, None)
    else:
        from kubecanvas.cli.clusteropts import compile_quietly, connect, namespace_of, state_source

        api = connect()
        body = api.get(namespace_of(namespace), workflow)
        with state_source(api, redis) as source:
            document = source.document(body)
        view = CanvasView(workflow, (body.get("spec") or {}).get("canvas"), compile_quietly(body), document)
    dot = to_dot(view)
    data = dot.encode() if fmt == GraphFormat.dot else render(dot, fmt.value)
    if output is not None:
        try:
            output.write_bytes(data)
        except OSError as error:
            raise CliError(f"cannot write {output}: {error.strerror or error}") from None
        typer.echo(f"wrote {output} ({fmt.value}, {len(data)} bytes)", err=True)
    elif fmt == GraphFormat.png and sys.stdout.isatty():
        raise CliError("PNG is binary: write it to a file with --output FILE.png (or redirect stdout)")
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    raise typer.Exit(EXIT_OK)
