"""`.delay()` with the local back end (`KUBECANVAS_BACKEND=local`): the canvas runs on the
local runner — a process per task, the real task runtime, no cluster and no Redis — and the
caller gets the same result object as an eager run, once the workflow has ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubecanvas.check import checked_workflow
from kubecanvas.local.eager import EagerResult, run_to_end
from kubecanvas.local.runner import LocalRunner

__all__ = ["run_locally"]


def run_locally(manifest: Mapping[str, Any], **options: Any) -> EagerResult:
    """Run a Workflow manifest on the local runner (`options` as LocalRunner's) to its end."""
    runner = LocalRunner(checked_workflow(dict(manifest)).workflow, **options)
    documents = []

    async def run() -> None:
        documents.append(await runner.run())

    run_to_end(run())
    return EagerResult.of(documents[0], runner.engine)
