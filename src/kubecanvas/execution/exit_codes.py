"""What a task runtime's exit code means: the one table, for the runtime that exits with it
and for the hosts (the operator, the local runner) that explain a pod or a process that
ended without reporting. Codes follow `kubectl get jobs` and BSD's sysexits."""

from __future__ import annotations

__all__ = [
    "EXIT_CLUSTER_UNREACHABLE",
    "EXIT_CODES",
    "EXIT_RUNTIME_ERROR",
    "EXIT_STORE_UNREACHABLE",
    "TERMINATION_MESSAGE_PATH",
    "exit_meaning",
    "last_words",
]

EXIT_CODES = {"succeeded": 0, "failed": 1, "retry": 3, "expired": 4}
"""An attempt that reported: its outcome's kind, as the process's exit code."""

EXIT_RUNTIME_ERROR = 70  # EX_SOFTWARE
"""The runtime itself could not work (bad settings, its task missing from the store)."""

EXIT_STORE_UNREACHABLE = 75  # EX_TEMPFAIL
"""Redis stayed unreachable for the runtime's whole retry budget: worth another attempt."""


EXIT_CLUSTER_UNREACHABLE = 69  # EX_UNAVAILABLE
"""The Kubernetes API stayed unreachable while the runtime fetched its task's code (a ConfigMap).
Runtimes before the kubelet passed that code in the environment used it: kept so that an
operator upgraded under their running pods still explains them."""


TERMINATION_MESSAGE_PATH = "/dev/termination-log"
"""Where a runtime in a pod leaves its last words when it exits without reporting: the kubelet
puts the file's text in the pod's `state.terminated.message` (and, with the policy
`FallbackToLogsOnError`, the tail of the log when the file is empty: a crash's traceback), so
the task's error says *why* Redis or the API could not be reached, not only that."""


def last_words(message: str) -> str:
    """The line of a pod's termination message that a task's error quotes: its last non-empty
    line (a traceback ends with the exception), at most 300 characters."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def exit_meaning(code: int | None) -> str | None:
    """What an exit code without a report says, for the task's error message."""
    if code == EXIT_STORE_UNREACHABLE:
        return "the task runtime could not reach Redis, where its inputs and outcome live"
    if code == EXIT_CLUSTER_UNREACHABLE:
        return "the task runtime could not reach the Kubernetes API to fetch its task's code"
    if code == EXIT_RUNTIME_ERROR:
        return "the task runtime itself failed before the task could report (see its log)"
    return None
