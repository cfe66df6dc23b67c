"""How a task's call is built from its node and its parents' results.

This is the one implementation of the contract's argument rules (section 3):
partial arguments given at call time are prepended, keyword arguments merge with
call-time keys winning, and an immutable signature ignores both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas.graph.nodes import ListRef, NodeRef, Ref, TaskNode

__all__ = ["Call", "MissingResult", "build_call", "materialize"]


class MissingResult(LookupError):
    """A result that a task needs is not in the store."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        super().__init__(f"no result stored for task {node_id!r}")


def materialize(ref: Ref, results: Mapping[str, JSON]) -> JSON:
    """The JSON value a reference stands for."""
    if isinstance(ref, NodeRef):
        try:
            return results[ref.node]
        except KeyError:
            raise MissingResult(ref.node) from None
    assert isinstance(ref, ListRef)
    return [materialize(item, results) for item in ref.items]


@dataclass(frozen=True, slots=True)
class Call:
    """Positional and keyword arguments for one task call."""

    args: list[JSON]
    kwargs: JSONObject


def build_call(
    node: TaskNode,
    results: Mapping[str, JSON],
    spec_args: tuple[JSON, ...] | list[JSON] = (),
    spec_kwargs: Mapping[str, JSON] | None = None,
) -> Call:
    """The call for a node whose input is a value or the workflow's spec args.

    Errback inputs depend on the errback function's signature, so the runtime
    builds those itself (see kubecanvas_runtime).
    """
    own_args, own_kwargs = list(node.args), dict(node.kwargs)
    source = node.input
    if node.immutable or source is None:
        return Call(own_args, own_kwargs)
    if source.kind == "value":
        assert source.ref is not None
        return Call([materialize(source.ref, results), *own_args], own_kwargs)
    if source.kind == "spec":
        return Call([*spec_args, *own_args], {**own_kwargs, **(spec_kwargs or {})})
    raise ValueError(f"task {node.id}: an errback input is built by the runtime, not by build_call")
