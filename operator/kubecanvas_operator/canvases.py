"""The whole spec of a Workflow whose canvas is stored out of it (`kubecanvas.canvas.offload`).

Both doors a Workflow comes in by join it the same way before anything reads its spec: the
admission webhook (so `kubectl` is told of a bad canvas, a missing upload, or an author who
may not do what the canvas asks, at once) and the conductor (which then keeps the stored
part with the workflow's keys).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kubecanvas.canvas.offload import CANVAS_REF, UPLOAD_TTL_SECONDS, canvas_ref, joined
from kubecanvas.errors import InvalidWorkflow, Problem
from kubecanvas.resources import RETRY_OF_UID_ANNOTATION

if TYPE_CHECKING:
    from kubecanvas.store.hostside import WorkflowStore

__all__ = ["JoinedSpec", "joined_spec"]

JoinedSpec = tuple[dict[str, Any], str | None]
"""(the whole spec, the stored part's text, or None for a spec that was whole already)."""


async def joined_spec(store: WorkflowStore, metadata: Mapping[str, Any], spec: Any) -> JoinedSpec:
    """The whole spec of the Workflow `metadata` names. InvalidWorkflow (at spec.canvasRef)
    for a canvasRef that is malformed, was never uploaded to this namespace, expired before
    the Workflow came, or does not match what is stored. RedisError when Redis cannot say."""
    ref = canvas_ref(spec)
    if ref is None:
        return (dict(spec) if isinstance(spec, Mapping) else spec), None
    namespace = str(metadata.get("namespace") or "")
    annotations = metadata.get("annotations") or {}
    # Its own copy (a restart), then the copy of the workflow it retries, then the upload.
    owners = [uid for uid in (metadata.get("uid"), annotations.get(RETRY_OF_UID_ANNOTATION)) if uid]
    text = await store.find_canvas(namespace, ref.sha256, owners)
    if text is None:
        raise InvalidWorkflow(
            [
                Problem(
                    f"spec.{CANVAS_REF}",
                    f"no canvas {ref} was uploaded to namespace {namespace!r}, or it expired "
                    f"(an upload waits {UPLOAD_TTL_SECONDS} s for its Workflow): submit the "
                    "workflow again with kubecanvas, which uploads it",
                )
            ]
        )
    return joined(spec, text), text
