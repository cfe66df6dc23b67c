"""The compiled task graph: plain data, so that the operator can persist it and the
runtime can read one node of it without importing the canvas model.

A canvas compiles to `TaskNode`s, one per task invocation, numbered in canvas order
(depth first, left to right). A node says which task to call, its own partial
arguments, what value is prepended to them (`input`), and which nodes must succeed
first (`deps`). The workflow's result and every chord body's argument are `Ref`s: a
tree of node results materialised into JSON once those nodes have succeeded.

Errbacks are compiled as templates (`ErrbackAttachment`) and instantiated by the
engine only when a failure triggers them, once per *unit*: one unit for a task, a
chain or a chord (so a chord's errback runs exactly once), one per member for a group.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, TypedDict, cast

from kubecanvas._kits.jsonvalues import JSON, JSONObject

__all__ = [
    "ErrbackAttachment",
    "Graph",
    "Input",
    "ListRef",
    "NodeRef",
    "Ref",
    "TaskNode",
    "ref_from_json",
    "ref_node_ids",
    "ref_to_json",
]

CallMode: TypeAlias = Literal["call", "map", "starmap"]
Role: TypeAlias = Literal["task", "callback", "errback"]


@dataclass(frozen=True, slots=True)
class NodeRef:
    """The result of one node."""

    node: str


@dataclass(frozen=True, slots=True)
class ListRef:
    """A list of results, in canvas order: a group's result, a chord body's argument."""

    items: tuple[Ref, ...]


Ref: TypeAlias = NodeRef | ListRef


def ref_to_json(ref: Ref) -> JSON:
    if isinstance(ref, NodeRef):
        return {"node": ref.node}
    return {"list": [ref_to_json(item) for item in ref.items]}


def ref_from_json(data: JSON) -> Ref:
    if not isinstance(data, dict):
        raise ValueError(f"a result reference must be an object, not {data!r}")
    if "node" in data:
        return NodeRef(str(data["node"]))
    items = data.get("list")
    if not isinstance(items, list):
        raise ValueError(f"a result reference needs 'node' or 'list': {data!r}")
    return ListRef(tuple(ref_from_json(item) for item in items))


def ref_node_ids(ref: Ref) -> Iterator[str]:
    """Every node whose result the reference needs, in canvas order."""
    if isinstance(ref, NodeRef):
        yield ref.node
    else:
        for item in ref.items:
            yield from ref_node_ids(item)


@dataclass(frozen=True, slots=True)
class Input:
    """What a task receives before its own partial arguments.

    - `value`: the materialised `ref` as one argument (a chain's parent value, a chord
      body's list of header results);
    - `spec`: the workflow's `spec.args` spread and `spec.kwargs` merged;
    - `errback`: the failure of `failed` (its request, exception and traceback, or
      only its id, decided by the errback function's signature at run time).
    """

    kind: Literal["value", "spec", "errback"]
    ref: Ref | None = None
    failed: str | None = None

    def to_json(self) -> JSONObject:
        data: JSONObject = {"kind": self.kind}
        if self.ref is not None:
            data["ref"] = ref_to_json(self.ref)
        if self.failed is not None:
            data["failed"] = self.failed
        return data

    @classmethod
    def from_json(cls, data: JSON) -> Input:
        if not isinstance(data, dict) or data.get("kind") not in ("value", "spec", "errback"):
            raise ValueError(f"not a task input: {data!r}")
        ref = data.get("ref")
        failed = data.get("failed")
        return cls(
            kind=cast(Literal["value", "spec", "errback"], data["kind"]),
            ref=ref_from_json(ref) if ref is not None else None,
            failed=str(failed) if failed is not None else None,
        )


class TaskNodeJSON(TypedDict, total=False):
    id: str
    index: int
    task: str
    call: CallMode
    args: list[JSON]
    kwargs: JSONObject
    items: list[JSON] | None
    immutable: bool
    input: JSONObject | None
    deps: list[str]
    join: bool
    options: JSONObject
    role: Role
    path: str


@dataclass(frozen=True, slots=True)
class TaskNode:
    """One task invocation.

    `join` marks a node that gathers several branches (a chord body, the task after a
    group in a chain): when one of them fails it waits for all of them and ends
    FAILURE with a ChordError naming the lowest failure, exactly once.
    `options` are the node's effective TaskOptions (defaults, enclosing canvases and
    its own, merged field by field) in the Workflow's own spelling.
    """

    id: str
    index: int
    task: str
    call: CallMode = "call"
    args: tuple[JSON, ...] = ()
    kwargs: JSONObject = field(default_factory=dict)
    items: tuple[JSON, ...] | None = None
    immutable: bool = False
    input: Input | None = None
    deps: tuple[str, ...] = ()
    join: bool = False
    options: JSONObject = field(default_factory=dict)
    role: Role = "task"
    path: str = ""

    def to_json(self) -> TaskNodeJSON:
        data: TaskNodeJSON = {"id": self.id, "index": self.index, "task": self.task}
        if self.call != "call":
            data["call"] = self.call
        if self.args:
            data["args"] = list(self.args)
        if self.kwargs:
            data["kwargs"] = self.kwargs
        if self.items is not None:
            data["items"] = list(self.items)
        if self.immutable:
            data["immutable"] = True
        if self.input is not None:
            data["input"] = self.input.to_json()
        if self.deps:
            data["deps"] = list(self.deps)
        if self.join:
            data["join"] = True
        if self.options:
            data["options"] = self.options
        if self.role != "task":
            data["role"] = self.role
        if self.path:
            data["path"] = self.path
        return data

    @classmethod
    def from_json(cls, data: TaskNodeJSON) -> TaskNode:
        items = data.get("items")
        raw_input = data.get("input")
        return cls(
            id=data["id"],
            index=data["index"],
            task=data["task"],
            call=data.get("call", "call"),
            args=tuple(data.get("args", ())),
            kwargs=dict(data.get("kwargs", {})),
            items=tuple(items) if items is not None else None,
            immutable=data.get("immutable", False),
            input=Input.from_json(raw_input) if raw_input is not None else None,
            deps=tuple(data.get("deps", ())),
            join=data.get("join", False),
            options=dict(data.get("options", {})),
            role=data.get("role", "task"),
            path=data.get("path", ""),
        )


class ErrbackAttachmentJSON(TypedDict):
    id: str
    path: str
    template: list[TaskNodeJSON]
    units: list[list[str]]


@dataclass(frozen=True, slots=True)
class ErrbackAttachment:
    """A `linkError` canvas and the failures that trigger it.

    `template` is the errback canvas compiled with local ids ("0", "1", ...); its
    first tasks take an `errback` input. Each of `units` is a set of nodes: when all
    of a unit's nodes have finished and one of them failed, the engine instantiates
    the template once for that unit, naming the unit's root-cause failure.
    """

    id: str
    path: str
    template: tuple[TaskNode, ...]
    units: tuple[tuple[str, ...], ...]

    def to_json(self) -> ErrbackAttachmentJSON:
        return {
            "id": self.id,
            "path": self.path,
            "template": [node.to_json() for node in self.template],
            "units": [list(unit) for unit in self.units],
        }

    @classmethod
    def from_json(cls, data: ErrbackAttachmentJSON) -> ErrbackAttachment:
        return cls(
            id=data["id"],
            path=data["path"],
            template=tuple(TaskNode.from_json(node) for node in data["template"]),
            units=tuple(tuple(unit) for unit in data["units"]),
        )


class GraphJSON(TypedDict):
    nodes: list[TaskNodeJSON]
    result: JSON
    errbacks: list[ErrbackAttachmentJSON]
    args: list[JSON]
    kwargs: JSONObject


@dataclass(frozen=True, slots=True)
class Graph:
    """A whole compiled workflow: nodes in canvas order, where its result comes from,
    its errback attachments, and the workflow's `spec.args`/`spec.kwargs`."""

    nodes: tuple[TaskNode, ...]
    result: Ref
    errbacks: tuple[ErrbackAttachment, ...] = ()
    args: tuple[JSON, ...] = ()
    kwargs: JSONObject = field(default_factory=dict)

    def every_task(self) -> list[TaskNode]:
        """Every task the workflow may run: its nodes, then its errbacks' templates (what a
        check of task names or options must cover, errbacks included)."""
        return [*self.nodes, *(node for attachment in self.errbacks for node in attachment.template)]

    def to_json(self) -> GraphJSON:
        return {
            "nodes": [node.to_json() for node in self.nodes],
            "result": ref_to_json(self.result),
            "errbacks": [attachment.to_json() for attachment in self.errbacks],
            "args": list(self.args),
            "kwargs": self.kwargs,
        }

    @classmethod
    def from_json(cls, data: GraphJSON) -> Graph:
        return cls(
            nodes=tuple(TaskNode.from_json(node) for node in data["nodes"]),
            result=ref_from_json(data["result"]),
            errbacks=tuple(ErrbackAttachment.from_json(item) for item in data.get("errbacks", [])),
            args=tuple(data.get("args", ())),
            kwargs=dict(data.get("kwargs", {})),
        )
