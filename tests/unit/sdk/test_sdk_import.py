"""`import kubecanvas` stays light: task pods pay for it with every task."""

from __future__ import annotations

import subprocess
import sys

import kubecanvas


def test_public_surface() -> None:
    assert kubecanvas.__version__ == "0.1.0"
    for name in kubecanvas.__all__:
        assert hasattr(kubecanvas, name), name
    for name in (
        "task",
        "Task",
        "Signature",
        "signature",
        "chain",
        "group",
        "chord",
        "chunks",
        "xmap",
        "xstarmap",
        "Request",
        "Retry",
        "InvalidWorkflow",
        "to_workflow",
        "from_workflow",
        "load_workflow",
    ):
        assert name in kubecanvas.__all__


def test_import_pulls_in_no_heavy_dependency() -> None:
    code = (
        "import sys, kubecanvas\n"
        "heavy = ('pydantic', 'yaml', 'kubernetes', 'kopf', 'redis',\n"
        "         'kubecanvas.canvas', 'kubecanvas.client', 'kubecanvas.local')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
