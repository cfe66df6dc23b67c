"""The Typer application and the one place errors become exit codes.

Commands end with `typer.Exit(code)`; usage errors are Typer's (exit 2). Anything
else a command raises ends as one line on stderr: 1 for invalid input and failures,
130 when interrupted. Set
KUBECANVAS_DEBUG=1 to see the traceback of an unexpected error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib import import_module
from typing import Any

import typer

from kubecanvas.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError
from kubecanvas.errors import InvalidWorkflow, KubecanvasError

__all__ = ["COMMANDS", "build_app", "run_cli"]

# (module, function, command name): add a command by adding a module and a line here.
COMMANDS: list[tuple[str, str, str]] = [
    ("kubecanvas.cli.run", "run", "run"),
    ("kubecanvas.cli.lint", "lint", "lint"),
    ("kubecanvas.cli.submit", "submit", "submit"),
    ("kubecanvas.cli.get", "get", "get"),
    ("kubecanvas.cli.listing", "list_workflows", "list"),
    ("kubecanvas.cli.logs", "logs", "logs"),
    ("kubecanvas.cli.result", "result", "result"),
    ("kubecanvas.cli.revoke", "revoke", "revoke"),
    ("kubecanvas.cli.retry", "retry", "retry"),
    ("kubecanvas.cli.graph", "graph", "graph"),
    ("kubecanvas.cli.beat", "beat", "beat"),
]


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="kubecanvas",
        help="Celery-style canvas workflows, run locally or natively on Kubernetes.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    for module, function, name in COMMANDS:
        command: Callable[..., Any] = getattr(import_module(module), function)
        app.command(name)(command)
    return app


def run_cli(argv: list[str] | None = None) -> int:
    """Run one command line; return its exit code instead of exiting.

    Typer reports usage errors itself (exit 2); commands end with `typer.Exit(code)`;
    everything else they raise is turned into one line here."""
    try:
        build_app()(args=argv, prog_name="kubecanvas")
    except SystemExit as done:
        return _exit_code(done.code)
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except CliError as error:
        _say(str(error))
        return error.code
    except InvalidWorkflow as error:
        for problem in error.problems:
            _say(f"invalid workflow: {problem}")
        return EXIT_FAILED
    except (KubecanvasError, OSError) as error:
        _say(str(error) or type(error).__name__)
        return EXIT_FAILED
    except Exception as error:
        if os.environ.get("KUBECANVAS_DEBUG"):
            raise
        _say(f"internal error: {type(error).__name__}: {error} (set KUBECANVAS_DEBUG=1 for the traceback)")
        return EXIT_FAILED
    return EXIT_OK


def _exit_code(code: object) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    _say(str(code))
    return EXIT_FAILED


def _say(message: str) -> None:
    print(f"kubecanvas: {message}", file=sys.stderr, flush=True)
