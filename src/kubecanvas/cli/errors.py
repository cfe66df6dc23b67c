"""How a command reports that it cannot go on: one line on stderr and an exit code."""

from __future__ import annotations

from kubecanvas.errors import KubecanvasError

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "CliError"]

EXIT_OK = 0
EXIT_FAILED = 1  # a failed or revoked workflow, invalid input
EXIT_USAGE = 2  # the command line itself is wrong (click's convention)
EXIT_INTERRUPTED = 130


class CliError(KubecanvasError):
    """A message for the user, already clear enough to print as it is."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        self.code = code
        super().__init__(message)
