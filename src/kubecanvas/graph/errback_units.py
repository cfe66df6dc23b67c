"""Turning an errback template into real nodes when a failure triggers it."""

from __future__ import annotations

from dataclasses import replace

from kubecanvas.graph.nodes import ErrbackAttachment, Input, ListRef, NodeRef, Ref, TaskNode

__all__ = ["errback_node_id", "instantiate_errback"]


def errback_node_id(attachment: ErrbackAttachment, unit: int, local_id: str) -> str:
    """`e0.2.1`: node 1 of errback attachment e0, run for its unit 2. Deterministic,
    so that a restarted operator recognises an errback it already started."""
    return f"{attachment.id}.{unit}.{local_id}"


def instantiate_errback(
    attachment: ErrbackAttachment, unit: int, failed: str, first_index: int
) -> list[TaskNode]:
    """The errback's nodes for one failed unit, numbered from `first_index`.

    Its first tasks receive the failure of `failed` (the unit's root cause).
    """
    prefix = f"{attachment.id}.{unit}."

    def rename(ref: Ref) -> Ref:
        if isinstance(ref, NodeRef):
            return NodeRef(prefix + ref.node)
        return ListRef(tuple(rename(item) for item in ref.items))

    nodes = []
    for offset, node in enumerate(attachment.template):
        source = node.input
        if source is not None and source.kind == "errback":
            source = Input("errback", failed=failed)
        elif source is not None and source.ref is not None:
            source = Input(source.kind, ref=rename(source.ref))
        nodes.append(
            replace(
                node,
                id=prefix + node.id,
                index=first_index + offset,
                input=source,
                deps=tuple(prefix + dep for dep in node.deps),
            )
        )
    return nodes
