"""What the cluster commands share: their options, and how they reach the cluster.

Per-task state is read from Redis when a URL is given (`--redis`, `KUBECANVAS_REDIS_URL`),
otherwise from the operator's HTTP API through the API server's service proxy (see
`kubecanvas.client.sources`). Workflow objects always come from the Kubernetes API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from kubecanvas.client.cluster import WorkflowApi
    from kubecanvas.client.sources import StateSource
    from kubecanvas.graph.nodes import Graph

__all__ = [
    "FINISHED",
    "NameArgument",
    "NamespaceOption",
    "RedisOption",
    "compile_quietly",
    "connect",
    "format_table",
    "namespace_of",
    "state_source",
]

FINISHED = ("Succeeded", "Failed", "Revoked")

NameArgument = Annotated[str, typer.Argument(help="The Workflow's name.", show_default=False, metavar="NAME")]
NamespaceOption = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        help="The namespace. Default: the kubeconfig context's.",
        show_default=False,
        metavar="NS",
    ),
]
RedisOption = Annotated[
    str | None,
    typer.Option(
        "--redis",
        help="Read task states from this Redis (redis://host:6379/0). Default: $KUBECANVAS_REDIS_URL, "
        "else the operator's HTTP API through the Kubernetes API server.",
        show_default=False,
        metavar="URL",
    ),
]


def connect() -> WorkflowApi:
    """The Kubernetes API, with the kubeconfig kubectl would use."""
    from kubecanvas.client.cluster import WorkflowApi

    return WorkflowApi()


def namespace_of(namespace: str | None) -> str:
    if namespace:
        return namespace
    from kubecanvas.client.cluster import default_namespace

    return default_namespace()


def state_source(api: WorkflowApi, redis: str | None) -> StateSource:
    from kubecanvas.client.settings import resolve
    from kubecanvas.client.sources import open_source

    return open_source(api, resolve(redis_url=redis))


def compile_quietly(body: Mapping[str, Any]) -> Graph | None:
    """The Workflow's compiled graph, or None if it does not compile (it failed at once)."""
    from kubecanvas.check import checked_spec
    from kubecanvas.errors import InvalidWorkflow

    try:
        return checked_spec(body.get("spec")).graph
    except InvalidWorkflow:
        return None


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Plain aligned columns, as kubectl prints them: easy to read and to `awk`."""
    widths = [max(len(row[index]) for row in [header, *rows]) for index in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths[:-1], strict=True)]
        lines.append("   ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"
