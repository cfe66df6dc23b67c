"""The graph as plain data: calls, references, errback instances, JSON round trips."""

from __future__ import annotations

import pytest

from kubecanvas.graph import (
    ErrbackAttachment,
    Graph,
    Input,
    ListRef,
    MissingResult,
    NodeRef,
    TaskNode,
    build_call,
    errback_node_id,
    instantiate_errback,
    materialize,
    ref_from_json,
    ref_node_ids,
    ref_to_json,
)
from kubecanvas.graph.nodes import TaskNodeJSON

NESTED = ListRef((NodeRef("t0"), ListRef((NodeRef("t2"), ListRef(()))), NodeRef("t1")))


def test_materialize_nested_refs_in_order() -> None:
    assert materialize(NESTED, {"t0": 1, "t1": [1], "t2": {"a": None}}) == [1, [{"a": None}, []], [1]]
    assert list(ref_node_ids(NESTED)) == ["t0", "t2", "t1"]


def test_materialize_missing_result() -> None:
    with pytest.raises(MissingResult) as caught:
        materialize(NESTED, {"t0": 1})
    assert caught.value.node_id == "t2"
    assert "t2" in str(caught.value)


def test_materialize_none_is_a_result() -> None:
    assert materialize(NodeRef("t0"), {"t0": None}) is None


@pytest.mark.parametrize("ref", [NodeRef("t0"), ListRef(()), NESTED])
def test_ref_json_round_trip(ref: NodeRef | ListRef) -> None:
    assert ref_from_json(ref_to_json(ref)) == ref


@pytest.mark.parametrize("data", [[1], {"x": 1}, {"list": 5}, None])
def test_bad_ref_json(data: object) -> None:
    with pytest.raises(ValueError, match="result reference"):
        ref_from_json(data)  # type: ignore[arg-type]


@pytest.mark.parametrize("data", [None, {"kind": "other"}, {}, "value"])
def test_bad_input_json(data: object) -> None:
    with pytest.raises(ValueError, match="not a task input"):
        Input.from_json(data)  # type: ignore[arg-type]


def _node(**fields: object) -> TaskNode:
    return TaskNode(id="t3", index=3, task="m.f", **fields)  # type: ignore[arg-type]


def test_build_call_value_input_prepends_the_value() -> None:
    node = _node(
        args=(1,), kwargs={"k": 2}, input=Input("value", ref=ListRef((NodeRef("t0"), NodeRef("t1"))))
    )
    call = build_call(node, {"t0": "a", "t1": "b"})
    assert (call.args, call.kwargs) == ([["a", "b"], 1], {"k": 2})


def test_build_call_spec_input_spreads_args_and_merges_kwargs() -> None:
    node = _node(args=(1,), kwargs={"a": 1, "b": 2}, input=Input("spec"))
    call = build_call(node, {}, [7, 8], {"b": 3})
    assert (call.args, call.kwargs) == ([7, 8, 1], {"a": 1, "b": 3})


def test_build_call_immutable_and_no_input() -> None:
    immutable = _node(args=(1,), immutable=True, input=Input("value", ref=NodeRef("t0")))
    assert build_call(immutable, {}).args == [1]  # the value is not even looked up
    assert build_call(_node(args=(5,)), {}, [1], {"x": 1}).args == [5]


def test_build_call_copies_its_inputs() -> None:
    kwargs = {"k": [1]}
    node = _node(kwargs=kwargs)
    call = build_call(node, {})
    call.kwargs["new"] = 1
    assert node.kwargs == {"k": [1]}


def test_build_call_refuses_an_errback_input() -> None:
    with pytest.raises(ValueError, match="errback input"):
        build_call(_node(input=Input("errback", failed="t0")), {})


def test_instantiate_errback_renames_and_renumbers() -> None:
    template = (
        TaskNode(id="0", index=0, task="m.log", input=Input("errback"), role="errback"),
        TaskNode(id="1", index=1, task="m.err2", input=Input("errback"), role="errback"),
        TaskNode(
            id="2",
            index=2,
            task="m.sum",
            input=Input("value", ref=ListRef((NodeRef("0"), NodeRef("1")))),
            deps=("0", "1"),
            join=True,
            role="errback",
        ),
    )
    attachment = ErrbackAttachment(
        id="e1", path="spec.canvas.linkError[0]", template=template, units=(("t0",), ("t1",))
    )
    nodes = instantiate_errback(attachment, 1, "t1", 40)
    assert [node.id for node in nodes] == ["e1.1.0", "e1.1.1", "e1.1.2"]
    assert [node.index for node in nodes] == [40, 41, 42]
    assert [node.input for node in nodes] == [
        Input("errback", failed="t1"),
        Input("errback", failed="t1"),
        Input("value", ref=ListRef((NodeRef("e1.1.0"), NodeRef("e1.1.1")))),
    ]
    assert nodes[2].deps == ("e1.1.0", "e1.1.1")
    assert nodes[2].join
    assert errback_node_id(attachment, 1, "0") == "e1.1.0"
    assert template[0].id == "0"  # the template is not changed


def test_task_node_json_round_trip_with_every_field() -> None:
    node = TaskNode(
        id="t7",
        index=7,
        task="pkg.mod.fn",
        call="starmap",
        args=(1, [2], {"a": None}),
        kwargs={"k": "v"},
        items=([1, 2], [3, 4]),
        immutable=True,
        input=Input("value", ref=NodeRef("t6")),
        deps=("t6",),
        join=True,
        options={"retries": {"max": 1}},
        role="callback",
        path="spec.canvas.chain[1]",
    )
    assert TaskNode.from_json(node.to_json()) == node
    minimal = TaskNode(id="t0", index=0, task="m.f")
    assert minimal.to_json() == {"id": "t0", "index": 0, "task": "m.f"}
    assert TaskNode.from_json(minimal.to_json()) == minimal
    empty_items = TaskNode(id="t0", index=0, task="m.f", call="map", items=())
    assert TaskNode.from_json(empty_items.to_json()).items == ()


def test_graph_json_round_trip_keeps_errbacks_and_spec_arguments() -> None:
    template = (TaskNode(id="0", index=0, task="m.log", input=Input("errback"), role="errback"),)
    graph = Graph(
        nodes=(TaskNode(id="t0", index=0, task="m.f", input=Input("spec")),),
        result=ListRef((NodeRef("t0"),)),
        errbacks=(ErrbackAttachment("e0", "spec.canvas.linkError[0]", template, (("t0",),)),),
        args=(1, "x"),
        kwargs={"k": [1]},
    )
    assert Graph.from_json(graph.to_json()) == graph
    data: TaskNodeJSON = {"id": "t0", "index": 0, "task": "m.f"}
    assert Graph.from_json({"nodes": [data], "result": {"node": "t0"}}).errbacks == ()  # type: ignore[typeddict-item]
