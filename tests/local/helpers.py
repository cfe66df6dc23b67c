"""Building and running small Workflows in the local runner's tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubecanvas.canvas.model import Workflow
from kubecanvas.canvas.validation import parse_workflow
from kubecanvas.local import LocalRunner

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[1] / "examples"


def workflow(canvas: dict[str, Any], name: str = "test", **spec: Any) -> Workflow:
    return parse_workflow(
        {
            "apiVersion": "kubecanvas.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": name},
            "spec": {"canvas": canvas, **spec},
        }
    )


def sig(task: str, *args: Any, **fields: Any) -> dict[str, Any]:
    return {"task": task if "." in task else f"localtasks.{task}", "args": list(args), **fields}


def run(
    flow: Workflow,
    *,
    during: Callable[[LocalRunner], None] | None = None,
    **options: Any,
) -> tuple[dict[str, Any], LocalRunner]:
    """Run `flow` with the test tasks (and conftasks) importable; `during` is called
    with the runner once it runs (to revoke it, for example)."""
    options.setdefault("code_dir", HERE)
    runner = LocalRunner(flow, **options)

    async def go() -> dict[str, Any]:
        if during is not None:
            asyncio.get_running_loop().call_soon(during, runner)
        return dict(await runner.run())

    return asyncio.run(go()), runner
