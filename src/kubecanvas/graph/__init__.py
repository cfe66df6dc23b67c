"""The compiled task graph (plain data) and how a task's arguments are built from it."""

from kubecanvas.graph.arguments import Call, MissingResult, build_call, materialize
from kubecanvas.graph.errback_units import errback_node_id, instantiate_errback
from kubecanvas.graph.nodes import (
    ErrbackAttachment,
    Graph,
    Input,
    ListRef,
    NodeRef,
    Ref,
    TaskNode,
    ref_from_json,
    ref_node_ids,
    ref_to_json,
)

__all__ = [
    "Call",
    "ErrbackAttachment",
    "Graph",
    "Input",
    "ListRef",
    "MissingResult",
    "NodeRef",
    "Ref",
    "TaskNode",
    "build_call",
    "errback_node_id",
    "instantiate_errback",
    "materialize",
    "ref_from_json",
    "ref_node_ids",
    "ref_to_json",
]
