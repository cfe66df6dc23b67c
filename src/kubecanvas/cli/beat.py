"""`kubecanvas beat MODULE:APP`: a Celery app's `beat_schedule` as CronWorkflows.

Celery runs beat as a process; here the operator runs the schedule, so beat's job is to
write it down once: `kubecanvas beat proj.celery:app | kubectl apply -f -`.
"""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Annotated

import typer

from kubecanvas.cli.errors import CliError

__all__ = ["beat"]


def beat(
    app: Annotated[
        str,
        typer.Argument(
            help="The Celery-style app, as MODULE:NAME (e.g. proj.celery:app).", show_default=False
        ),
    ],
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Put the CronWorkflows in this namespace.")
    ] = None,
    config_map: Annotated[
        str | None,
        typer.Option(
            "--code-config-map", help="The ConfigMap holding the task code (spec.code).", show_default=False
        ),
    ] = None,
) -> None:
    """Print the app's beat_schedule as CronWorkflow YAML, ready for `kubectl apply -f -`."""
    import yaml

    from kubecanvas.sdk.app import Kubecanvas

    module_name, _, attribute = app.partition(":")
    if not module_name or not attribute:
        raise CliError(f"{app!r}: name the app as MODULE:NAME, e.g. proj.celery:app")
    sys.path.insert(0, "")  # the project in the current directory, as `celery -A` finds it
    try:
        module = import_module(module_name)
    except ImportError as error:
        raise CliError(f"cannot import {module_name}: {error}") from None
    found = getattr(module, attribute, None)
    if not isinstance(found, Kubecanvas):
        raise CliError(f"{app}: {attribute!r} is not a kubecanvas app (Celery(...) from kubecanvas)")
    code = {"configMap": {"name": config_map}} if config_map else None
    manifests = found.beat_manifests(namespace=namespace, code=code)
    if not manifests:
        raise CliError(f"{app}: app.conf.beat_schedule is empty")
    typer.echo(yaml.safe_dump_all(manifests, sort_keys=False, allow_unicode=True), nl=False)
