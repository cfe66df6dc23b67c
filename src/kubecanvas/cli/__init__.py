"""The `kubecanvas` command line.

`main` is the console script. Commands live in their own modules and are listed in
`kubecanvas.cli.app.COMMANDS`; each imports what it needs only when it runs, so that
`kubecanvas --help` stays fast.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Run the command line and exit with its code."""
    import sys

    from kubecanvas.cli.app import run_cli

    sys.exit(run_cli(argv))
