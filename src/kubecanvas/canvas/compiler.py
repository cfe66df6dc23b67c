"""Compile a canvas into a task graph.

Every argument rule of the contract (../shared/canvas-semantics.md, section 3) is
decided here, once, as data: which value each task receives (`TaskNode.input`), what
it waits for (`deps`), and where the workflow's result and each chord body's list
come from (`Ref`s). The engine and the runtime only follow the graph.

Nodes are numbered in canvas order (depth first, left to right; a task's `link`
callbacks right after it), which is the order "first failure in canvas order" and
"the header member with the lowest index" speak of.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from kubecanvas._kits.jsonvalues import JSONObject
from kubecanvas.canvas.merging import merge_options
from kubecanvas.canvas.model import (
    Canvas,
    Chain,
    Chord,
    Chunks,
    Group,
    MapTask,
    Signature,
    Starmap,
    WorkflowSpec,
)
from kubecanvas.errors import InvalidWorkflow, Problem
from kubecanvas.graph.identity import given_task_id
from kubecanvas.graph.nodes import (
    ErrbackAttachment,
    Graph,
    Input,
    ListRef,
    NodeRef,
    Ref,
    Role,
    TaskNode,
    ref_node_ids,
)

__all__ = ["compile_spec"]


def compile_spec(spec: WorkflowSpec, path: str = "spec.canvas") -> Graph:
    """The task graph of a validated Workflow spec."""
    defaults = spec.defaults.to_json() if spec.defaults else {}
    compiler = _Compiler()
    first_input = Input("spec") if spec.args or spec.kwargs else None
    compiled = compiler.canvas(spec.canvas, _Context(input=first_input, options=defaults, path=path))
    _refuse_shared_task_ids(compiler.nodes, compiler.attachments)
    return Graph(
        nodes=tuple(compiler.nodes),
        result=compiled.ref,
        errbacks=tuple(compiler.attachments),
        args=tuple(spec.args),
        kwargs=dict(spec.kwargs),
    )


def _refuse_shared_task_ids(nodes: list[TaskNode], attachments: list[ErrbackAttachment]) -> None:
    """Each `taskId` names one task: `AsyncResult(id)` and `self.request.id` must mean it alone.
    An errback's tasks count too, and an errback that runs once per failed group member
    (several units) would give its taskId to each run."""
    first: dict[str, TaskNode] = {}
    problems = []
    templates = [(node, len(attachment.units)) for attachment in attachments for node in attachment.template]
    for node, runs in [*((node, 1) for node in nodes), *templates]:
        given = given_task_id(node)
        if given is None:
            continue
        where = f"{node.path}.options.taskId"
        if runs > 1:
            problems.append(
                Problem(
                    where,
                    f"{given!r} would be the id of each of the {runs} runs of this errback "
                    "(one per failed group member)",
                )
            )
        elif given in first:
            problems.append(Problem(where, f"{given!r} is already the id of {first[given].path}"))
        else:
            first[given] = node
    if problems:
        raise InvalidWorkflow(problems)


@dataclass(frozen=True, slots=True)
class _Context:
    """What a canvas receives from where it stands."""

    input: Input | None
    options: JSONObject
    path: str
    after: frozenset[str] = frozenset()  # must succeed first, without passing a value
    join: bool = False  # first tasks gather several branches (chord body semantics)
    role: Role = "task"
    in_chain: bool = False  # a one-member group directly in a chain is its member

    def waits_for(self) -> frozenset[str]:
        refs = ref_node_ids(self.input.ref) if self.input and self.input.ref else ()
        return self.after.union(refs)


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A compiled canvas, as its neighbours see it."""

    ref: Ref  # where its value comes from
    done: frozenset[str]  # the nodes whose success means it has finished
    nodes: tuple[str, ...]  # its own tasks (not side branches), for errback units
    members: tuple[tuple[str, ...], ...]  # per group member (flattened), for errback units
    spliced: tuple[Ref, ...] | None = None  # a group's items, spliced into an enclosing group


@dataclass
class _Compiler:
    id_prefix: str = "t"
    nodes: list[TaskNode] = field(default_factory=list)
    attachments: list[ErrbackAttachment] = field(default_factory=list)
    errback_template: bool = False

    def canvas(self, canvas: Canvas, context: _Context) -> _Compiled:
        own_options = canvas.options.to_json() if canvas.options else {}
        if isinstance(canvas, Signature):
            compiled = self._signature(canvas, context, own_options)
        else:
            inner = replace(context, options=merge_options(context.options, own_options))
            if isinstance(canvas, Chain):
                compiled = self._chain(canvas, inner)
            elif isinstance(canvas, Group):
                compiled = self._group(canvas.group, replace(inner, path=f"{context.path}.group"))
            elif isinstance(canvas, Chord):
                compiled = self._chord(canvas, inner)
            elif isinstance(canvas, MapTask | Starmap):
                compiled = self._map(canvas, inner)
            else:
                compiled = self._chunks(canvas, inner)
        self._link(canvas, compiled, context)
        self._link_error(canvas, compiled, context)
        return compiled

    def _add_node(self, context: _Context, **fields: object) -> TaskNode:
        index = len(self.nodes)
        waits_for = sorted(context.waits_for(), key=_node_order)
        node = TaskNode(
            id=f"{self.id_prefix}{index}",
            index=index,
            input=context.input,
            deps=tuple(waits_for),
            join=context.join,
            role=context.role,
            path=context.path,
            **fields,  # type: ignore[arg-type]
        )
        self.nodes.append(node)
        return node

    def _single(self, node: TaskNode) -> _Compiled:
        return _Compiled(NodeRef(node.id), frozenset({node.id}), (node.id,), ((node.id,),))

    def _signature(self, signature: Signature, context: _Context, own_options: JSONObject) -> _Compiled:
        node = self._add_node(
            context,
            task=signature.task,
            args=tuple(signature.args),
            kwargs=dict(signature.kwargs),
            immutable=signature.immutable,
            options=merge_options(context.options, own_options),
        )
        return self._single(node)

    def _map(self, canvas: MapTask | Starmap, context: _Context) -> _Compiled:
        parts, mode = (canvas.map, "map") if isinstance(canvas, MapTask) else (canvas.starmap, "starmap")
        node = self._add_node(
            replace(context, path=f"{context.path}.{mode}"),
            task=parts.task,
            call=mode,
            items=tuple(parts.items),
            immutable=True,  # items are given; a parent's value is not an argument of map
            options=context.options,
        )
        return self._single(node)

    def _chunks(self, canvas: Chunks, context: _Context) -> _Compiled:
        parts = canvas.chunks
        refs: list[Ref] = []
        for start in range(0, len(parts.items), parts.size):
            node = self._add_node(
                replace(context, path=f"{context.path}.chunks[{start // parts.size}]"),
                task=parts.task,
                call="starmap",
                items=tuple(parts.items[start : start + parts.size]),
                immutable=True,
                options=context.options,
            )
            refs.append(NodeRef(node.id))
        ids = tuple(ref.node for ref in refs if isinstance(ref, NodeRef))
        done = frozenset(ids) or context.waits_for()
        return _Compiled(ListRef(tuple(refs)), done, ids, tuple((node_id,) for node_id in ids), tuple(refs))

    def _chain(self, chain: Chain, context: _Context) -> _Compiled:
        compiled: _Compiled | None = None
        nodes: list[str] = []
        step_context = replace(context, in_chain=True)
        for position, element in enumerate(chain.chain):
            path = f"{context.path}.chain[{position}]"
            if compiled is not None:
                step_context = replace(
                    context,
                    input=Input("value", ref=compiled.ref),
                    after=compiled.done,
                    join=isinstance(compiled.ref, ListRef),
                    in_chain=True,
                )
            compiled = self.canvas(element, replace(step_context, path=path))
            nodes.extend(compiled.nodes)
        assert compiled is not None  # the model requires at least one element
        return _Compiled(compiled.ref, compiled.done, tuple(nodes), (tuple(nodes),))

    def _group(self, members: Sequence[Canvas], context: _Context) -> _Compiled:
        """Members all receive the group's input; the result is their values in
        order, with nested groups (and chunks) spliced in place."""
        member_context = replace(context, in_chain=False)
        compiled_members = [
            self.canvas(member, replace(member_context, path=f"{context.path}[{position}]"))
            for position, member in enumerate(members)
        ]
        if context.in_chain and len(compiled_members) == 1:
            return compiled_members[0]  # contract 3.7: a one-member group in a chain is its member
        items: list[Ref] = []
        units: list[tuple[str, ...]] = []
        for member in compiled_members:
            if member.spliced is not None:
                items.extend(member.spliced)
                units.extend(member.members)
            else:
                items.append(member.ref)
                units.append(member.nodes)
        nodes = tuple(node for member in compiled_members for node in member.nodes)
        done = frozenset().union(*(member.done for member in compiled_members))
        return _Compiled(
            ListRef(tuple(items)), done or context.waits_for(), nodes, tuple(units), tuple(items)
        )

    def _chord(self, chord: Chord, context: _Context) -> _Compiled:
        header = self._group(
            chord.chord.header, replace(context, path=f"{context.path}.chord.header", in_chain=False)
        )
        body = self.canvas(
            chord.chord.body,
            replace(
                context,
                input=Input("value", ref=header.ref),
                after=header.done,
                join=True,
                in_chain=False,
                path=f"{context.path}.chord.body",
            ),
        )
        nodes = header.nodes + body.nodes
        return _Compiled(body.ref, body.done, nodes, (nodes,))

    def _link(self, canvas: Canvas, compiled: _Compiled, context: _Context) -> None:
        """`link` callbacks run when the canvas succeeded, with its value (contract 4.6).
        They are side branches: never part of the result."""
        for position, callback in enumerate(canvas.link):
            self.canvas(
                callback,
                _Context(
                    input=Input("value", ref=compiled.ref),
                    after=compiled.done,
                    options=context.options,
                    path=f"{context.path}.link[{position}]",
                    role="errback" if self.errback_template else "callback",
                ),
            )

    def _link_error(self, canvas: Canvas, compiled: _Compiled, context: _Context) -> None:
        """`linkError` errbacks, compiled as templates the engine instantiates once per
        failed unit: per member for a group, once for anything else (contract 4.4)."""
        if not canvas.link_error:
            return
        if self.errback_template:
            raise InvalidWorkflow([Problem(f"{context.path}.linkError", "an errback cannot have errbacks")])
        units = compiled.members if isinstance(canvas, Group | Chunks) else (compiled.nodes,)
        units = tuple(unit for unit in units if unit)
        for position, errback in enumerate(canvas.link_error):
            path = f"{context.path}.linkError[{position}]"
            template = _Compiler(id_prefix="", errback_template=True)
            template.canvas(
                errback,
                _Context(input=Input("errback"), options=context.options, path=path, role="errback"),
            )
            if not template.nodes:
                continue  # an empty errback (`group: []`) has nothing to run
            self.attachments.append(
                ErrbackAttachment(
                    id=f"e{len(self.attachments)}", path=path, template=tuple(template.nodes), units=units
                )
            )


def _node_order(node_id: str) -> tuple[int, str]:
    digits = node_id.lstrip("t")
    return (int(digits), node_id) if digits.isdigit() else (1 << 62, node_id)
