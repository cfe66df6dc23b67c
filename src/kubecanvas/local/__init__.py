"""The local runner: run a Workflow on this machine, no cluster needed.

- `LocalRunner` runs each task in a child process with the real task runtime
  (`kubecanvas run`);
- `run_eagerly` runs a canvas in this process, synchronously (Celery's `.apply()`).

Both drive the engine the operator uses, so a Workflow behaves the same here.
"""

from kubecanvas.local.eager import EagerResult, run_eagerly
from kubecanvas.local.files import load_workflow_file, load_yaml
from kubecanvas.local.runner import DEFAULT_CONCURRENCY, LocalRunner, run_workflow

__all__ = [
    "DEFAULT_CONCURRENCY",
    "EagerResult",
    "LocalRunner",
    "load_workflow_file",
    "load_yaml",
    "run_eagerly",
    "run_workflow",
]
