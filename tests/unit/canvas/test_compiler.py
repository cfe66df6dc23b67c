"""The compiler: argument rules (contract section 3), canvas-order numbering, option
merging and errback units, checked on the graph and, symbolically, on the calls:
each node's result is the placeholder "<tN>", so a call shows where its values came from."""

from __future__ import annotations

from typing import Any

import pytest

from kubecanvas._kits.jsonvalues import JSON
from kubecanvas.errors import InvalidWorkflow
from kubecanvas.graph import Graph, ListRef, NodeRef, build_call, materialize
from support.simulation import chain, chord, compile_canvas, group, sig


def calls(graph: Graph) -> dict[str, tuple[list[JSON], dict[str, JSON]]]:
    results: dict[str, JSON] = {node.id: f"<{node.id}>" for node in graph.nodes}
    out = {}
    for node in graph.nodes:
        if node.input is not None and node.input.kind == "errback":
            continue
        call = build_call(node, results, graph.args, graph.kwargs)
        out[node.id] = (call.args, call.kwargs)
    return out


def result(graph: Graph) -> JSON:
    return materialize(graph.result, {node.id: f"<{node.id}>" for node in graph.nodes})


def tasks(graph: Graph) -> list[str]:
    return [node.task.removeprefix("conftasks.") for node in graph.nodes]


# ------------------------------------------------------------------ 3.1-3.4


def test_call_time_args_are_prepended() -> None:
    graph = compile_canvas(sig("sub", 10), args=[30])
    assert calls(graph) == {"t0": ([30, 10], {})}


def test_kwargs_merge_call_time_keys_win() -> None:
    graph = compile_canvas(sig("echo", 1, kwargs={"a": 1, "b": 2}), args=[2], kwargs={"b": 3, "c": 4})
    assert calls(graph) == {"t0": ([2, 1], {"a": 1, "b": 3, "c": 4})}


def test_spec_kwargs_alone_reach_the_first_task() -> None:
    graph = compile_canvas(chain(sig("echo"), sig("echo")), kwargs={"k": 1})
    assert calls(graph) == {"t0": ([], {"k": 1}), "t1": (["<t0>"], {})}


def test_chain_passes_the_parent_value_first() -> None:
    graph = compile_canvas(chain(sig("add", 4, 4), sig("add", 8), sig("add", 16)))
    assert calls(graph) == {"t0": ([4, 4], {}), "t1": (["<t0>", 8], {}), "t2": (["<t1>", 16], {})}
    assert [node.deps for node in graph.nodes] == [(), ("t0",), ("t1",)]
    assert graph.result == NodeRef("t2")


def test_immutable_ignores_partial_args_and_kwargs_but_waits_and_merges_options() -> None:
    graph = compile_canvas(
        chain(sig("add", 1, 1), sig("echo", 1, kwargs={"a": 1}, immutable=True, options={"priority": 2})),
        args=[5],
        kwargs={"b": 3},
        defaults={"countdown": 1},
    )
    assert calls(graph)["t1"] == ([1], {"a": 1})
    assert graph.nodes[1].deps == ("t0",)  # still waits for its parent
    assert graph.nodes[1].options == {"countdown": 1, "priority": 2}
    assert calls(compile_canvas(sig("echo", 1, immutable=True), args=[2]))["t0"] == ([1], {})


def test_nested_chain_is_flattened_in_order() -> None:
    graph = compile_canvas(chain(sig("add", 4, 16), sig("mul", 2), chain(sig("add", 4), sig("mul", 8))))
    assert calls(graph)["t2"] == (["<t1>", 4], {})
    assert calls(graph)["t3"] == (["<t2>", 8], {})
    assert graph.result == NodeRef("t3")


# ------------------------------------------------------------------ 3.5-3.7


def test_a_group_passes_its_value_to_every_member() -> None:
    graph = compile_canvas(chain(sig("add", 5, 6), group(chain(sig("add", 1), sig("add", 2)), sig("add", 3))))
    assert calls(graph) == {
        "t0": ([5, 6], {}),
        "t1": (["<t0>", 1], {}),
        "t2": (["<t1>", 2], {}),
        "t3": (["<t0>", 3], {}),
    }
    assert result(graph) == ["<t2>", "<t3>"]


def test_chord_body_gets_header_results_in_header_order() -> None:
    graph = compile_canvas(
        chord([chain(sig("add", 1, 2), sig("mul", 10)), sig("identity", 7)], sig("identity"))
    )
    assert calls(graph)["t3"] == ([["<t1>", "<t2>"]], {})  # a chain contributes its last value
    body = graph.nodes[3]
    assert body.join
    assert set(body.deps) == {"t1", "t2"}


def test_nested_chord_in_a_header_contributes_its_body_value() -> None:
    graph = compile_canvas(chord([sig("add", 1, 1), chord([sig("add", 2, 2)], sig("tsum"))], sig("xsum")))
    assert tasks(graph) == ["add", "add", "tsum", "xsum"]
    assert calls(graph)["t3"] == ([["<t0>", "<t2>"]], {})
    assert calls(graph)["t2"] == ([["<t1>"]], {})


def test_nested_groups_are_spliced_into_a_chord_header_in_order_at_every_depth() -> None:
    header = [
        sig("add", 0, 0),
        group(sig("add", 1, 1), group(sig("add", 2, 2), group(sig("add", 3, 3))), sig("add", 4, 4)),
        {"chunks": {"task": "conftasks.add", "items": [[5, 5], [6, 6], [7, 7]], "size": 2}},
        group(),
        sig("add", 8, 8),
    ]
    graph = compile_canvas(chord(header, sig("xsum")))
    body = graph.nodes[-1]
    assert calls(graph)[body.id] == ([["<t0>", "<t1>", "<t2>", "<t3>", "<t4>", "<t5>", "<t6>", "<t7>"]], {})
    assert [node.index for node in graph.nodes] == list(range(9))


def test_nested_groups_are_spliced_in_a_group_result() -> None:
    graph = compile_canvas(
        group(
            sig("add", 1, 10, immutable=True),
            group(
                sig("add", 1, 100, immutable=True),
                group(sig("add", 1, 1000, immutable=True), sig("add", 1, 2000, immutable=True)),
            ),
        )
    )
    assert result(graph) == ["<t0>", "<t1>", "<t2>", "<t3>"]


def test_a_chain_ending_in_a_group_is_one_item_of_a_header() -> None:
    graph = compile_canvas(
        chord([chain(sig("add", 1, 1), group(sig("add", 1), sig("add", 2))), sig("add", 3, 3)], sig("xsum"))
    )
    assert calls(graph)["t4"] == ([[["<t1>", "<t2>"], "<t3>"]], {})


def test_group_then_task_in_a_chain_is_a_chord() -> None:
    graph = compile_canvas(chain(group(*(sig("add", i, i) for i in range(3))), sig("tsum")))
    tsum = graph.nodes[3]
    assert tsum.join
    assert tsum.deps == ("t0", "t1", "t2")
    assert calls(graph)["t3"] == ([["<t0>", "<t1>", "<t2>"]], {})
    assert graph.result == NodeRef("t3")


def test_one_member_group_in_a_chain_is_its_member() -> None:
    graph = compile_canvas(chain(sig("add", 1, 1), group(sig("add", 2)), sig("mul", 3)))
    assert calls(graph) == {"t0": ([1, 1], {}), "t1": (["<t0>", 2], {}), "t2": (["<t1>", 3], {})}
    assert not graph.nodes[2].join
    last = compile_canvas(chain(sig("add", 1, 1), group(sig("add", 2))))
    assert last.result == NodeRef("t1")


def test_one_member_group_outside_a_chain_is_still_a_list() -> None:
    assert compile_canvas(group(sig("add", 1, 1))).result == ListRef((NodeRef("t0"),))
    graph = compile_canvas(chain(sig("add", 1, 1), group(group(sig("add", 2)))))
    assert graph.result == ListRef((NodeRef("t1"),))  # unrolled once, as Celery's maybe_unroll_group
    graph = compile_canvas(chord([group(sig("add", 1, 1))], sig("tsum")))
    assert calls(graph)["t1"] == ([["<t0>"]], {})


def test_chunks_map_and_starmap() -> None:
    graph = compile_canvas(
        chain(
            sig("add", 1, 1),
            group(
                {"map": {"task": "conftasks.tsum", "items": [[1, 2], [3]]}},
                {"starmap": {"task": "conftasks.add", "items": [[1, 1]]}},
                {"chunks": {"task": "conftasks.add", "items": [[i, i] for i in range(5)], "size": 2}},
            ),
        )
    )
    modes = [(node.call, node.items, node.immutable, node.deps) for node in graph.nodes[1:]]
    assert modes == [
        ("map", ([1, 2], [3]), True, ("t0",)),
        ("starmap", ([1, 1],), True, ("t0",)),
        ("starmap", ([0, 0], [1, 1]), True, ("t0",)),
        ("starmap", ([2, 2], [3, 3]), True, ("t0",)),
        ("starmap", ([4, 4],), True, ("t0",)),
    ]
    assert result(graph) == ["<t1>", "<t2>", "<t3>", "<t4>", "<t5>"]  # chunks spliced like a group
    assert compile_canvas(
        {"chunks": {"task": "conftasks.add", "items": [[1, 1]], "size": 3}}
    ).result == ListRef((NodeRef("t0"),))


# ------------------------------------------------------------------ empty groups and chords


def test_empty_group_and_chord() -> None:
    assert compile_canvas(group()).nodes == ()
    assert compile_canvas(group()).result == ListRef(())
    graph = compile_canvas(chord([], sig("identity")))
    assert calls(graph) == {"t0": ([[]], {})}
    assert graph.nodes[0].deps == ()


def test_empty_group_in_a_chain_passes_an_empty_list_and_keeps_waiting() -> None:
    graph = compile_canvas(chain(sig("add", 1, 1), group(), sig("echo")))
    assert calls(graph)["t1"] == ([[]], {})
    assert graph.nodes[1].deps == ("t0",)
    graph = compile_canvas(chain(sig("add", 1, 1), chord([], sig("echo")), sig("mul", 2)))
    assert graph.nodes[1].deps == ("t0",)
    assert calls(graph)["t1"] == ([[]], {})
    assert calls(graph)["t2"] == (["<t1>", 2], {})


def test_empty_chunks_and_map() -> None:
    assert compile_canvas({"chunks": {"task": "conftasks.add", "items": [], "size": 2}}).result == ListRef(())
    graph = compile_canvas({"map": {"task": "conftasks.tsum", "items": []}})
    assert len(graph.nodes) == 1  # one task that returns []


# ------------------------------------------------------------------ nested chords


def test_chord_in_a_chain_with_a_parent_and_a_child() -> None:
    graph = compile_canvas(
        chain(sig("add", 2, 2), chord([sig("add", 1), sig("add", 2)], sig("tsum")), sig("mul", 10))
    )
    assert calls(graph) == {
        "t0": ([2, 2], {}),
        "t1": (["<t0>", 1], {}),
        "t2": (["<t0>", 2], {}),
        "t3": ([["<t1>", "<t2>"]], {}),
        "t4": (["<t3>", 10], {}),
    }
    assert not graph.nodes[4].join


def test_chord_body_that_is_a_chain_or_a_chord() -> None:
    graph = compile_canvas(chord([sig("add", 1, 1)], chain(sig("tsum"), sig("mul", 2))))
    assert calls(graph)["t1"] == ([["<t0>"]], {})
    assert calls(graph)["t2"] == (["<t1>", 2], {})
    assert graph.nodes[1].join
    assert not graph.nodes[2].join
    graph = compile_canvas(chord([sig("add", 1, 1)], chord([sig("echo"), sig("echo")], sig("xsum"))))
    assert calls(graph)["t1"] == ([["<t0>"]], {})
    assert calls(graph)["t2"] == ([["<t0>"]], {})
    assert calls(graph)["t3"] == ([["<t1>", "<t2>"]], {})


# ------------------------------------------------------------------ 3.8


def test_spec_args_go_to_the_first_tasks_only() -> None:
    graph = compile_canvas(
        chain(group(chain(sig("add", 1), sig("add", 2)), sig("add", 3)), sig("tsum"), sig("mul", 2)),
        args=[10],
    )
    assert calls(graph) == {
        "t0": ([10, 1], {}),
        "t1": (["<t0>", 2], {}),
        "t2": ([10, 3], {}),
        "t3": ([["<t1>", "<t2>"]], {}),
        "t4": (["<t3>", 2], {}),
    }


def test_spec_args_go_to_chord_header_members_not_the_body() -> None:
    graph = compile_canvas(chord([sig("add", 1), sig("add", 2)], sig("echo")), args=[5])
    assert calls(graph) == {"t0": ([5, 1], {}), "t1": ([5, 2], {}), "t2": ([["<t0>", "<t1>"]], {})}


def test_spec_args_do_not_reach_links_and_maps() -> None:
    graph = compile_canvas(
        group(sig("add", 1, link=sig("echo")), {"map": {"task": "conftasks.tsum", "items": [[1]]}}), args=[5]
    )
    assert calls(graph) == {"t0": ([5, 1], {}), "t1": (["<t0>"], {}), "t2": ([], {})}


# ------------------------------------------------------------------ canvas order


def test_numbering_is_depth_first_left_to_right_with_links_after_their_task() -> None:
    canvas = chain(
        sig("a", link=[sig("a_cb1"), sig("a_cb2")]),
        group(chain(sig("b"), sig("c")), chord([sig("d"), sig("e")], sig("f", link=sig("f_cb")))),
        sig("g"),
        link=sig("chain_cb"),
    )
    graph = compile_canvas(canvas)
    assert tasks(graph) == ["a", "a_cb1", "a_cb2", "b", "c", "d", "e", "f", "f_cb", "g", "chain_cb"]
    assert [node.id for node in graph.nodes] == [f"t{i}" for i in range(11)]
    assert [node.index for node in graph.nodes] == list(range(11))
    assert [node.role for node in graph.nodes] == ["task", "callback", "callback"] + ["task"] * 5 + [
        "callback",
        "task",
        "callback",
    ]


def test_deps_point_backwards_and_follow_canvas_order() -> None:
    graph = compile_canvas(chord([sig("a"), group(sig("b"), sig("c")), chain(sig("d"), sig("e"))], sig("f")))
    position = {node.id: node.index for node in graph.nodes}
    for node in graph.nodes:
        assert all(position[dep] < node.index for dep in node.deps)
        assert list(node.deps) == sorted(node.deps, key=lambda dep: position[dep])
    assert graph.nodes[-1].deps == ("t0", "t1", "t2", "t4")


def test_paths_name_where_each_task_comes_from() -> None:
    graph = compile_canvas(chain(sig("a"), chord([group(sig("b"))], sig("c", link=sig("d")))))
    assert [node.path for node in graph.nodes] == [
        "spec.canvas.chain[0]",
        "spec.canvas.chain[1].chord.header[0].group[0]",
        "spec.canvas.chain[1].chord.body",
        "spec.canvas.chain[1].chord.body.link[0]",
    ]


# ------------------------------------------------------------------ options


def test_options_merge_defaults_then_composites_then_own_field_by_field() -> None:
    graph = compile_canvas(
        chain(
            group(
                sig("a", options={"retries": {"max": 1}, "env": [{"name": "X", "value": "task"}]}),
                {"map": {"task": "m.map", "items": []}, "options": {"priority": 9}},
                options={"retries": {"delay": 3}, "countdown": 2},
            ),
            sig("b"),
            options={
                "priority": 2,
                "env": [{"name": "X", "value": "chain"}, {"name": "Y", "value": "chain"}],
            },
        ),
        defaults={"countdown": 1, "retries": {"max": 5, "delay": 2, "backoff": 2}, "priority": 0},
    )
    a, map_node, b = graph.nodes
    assert a.options == {
        "countdown": 2,
        "retries": {"max": 1, "delay": 3, "backoff": 2},
        "priority": 2,
        "env": [{"name": "Y", "value": "chain"}, {"name": "X", "value": "task"}],
    }
    assert map_node.options == {
        "countdown": 2,
        "retries": {"max": 5, "delay": 3, "backoff": 2},
        "priority": 9,
        "env": [{"name": "X", "value": "chain"}, {"name": "Y", "value": "chain"}],
    }
    assert b.options == {
        "countdown": 1,
        "retries": {"max": 5, "delay": 2, "backoff": 2},
        "priority": 2,
        "env": [{"name": "X", "value": "chain"}, {"name": "Y", "value": "chain"}],
    }


def test_chord_and_chunks_options_reach_every_task() -> None:
    graph = compile_canvas(
        group(
            chord([sig("a")], sig("b"), options={"timeout": 5}),
            {"chunks": {"task": "m.c", "items": [[1], [2]], "size": 1}, "options": {"image": "img"}},
        )
    )
    assert [node.options for node in graph.nodes] == [
        {"timeout": 5.0},
        {"timeout": 5.0},
        {"image": "img"},
        {"image": "img"},
    ]


def test_callbacks_and_errbacks_inherit_the_enclosing_options_not_the_canvas_own() -> None:
    graph = compile_canvas(
        chain(sig("a", options={"priority": 7}, link=sig("cb"), linkError=sig("eb")), options={"timeout": 9}),
        defaults={"countdown": 1},
    )
    assert graph.nodes[1].options == {"countdown": 1, "timeout": 9.0}
    assert graph.errbacks[0].template[0].options == {"countdown": 1, "timeout": 9.0}


# ------------------------------------------------------------------ errback units


def test_chord_errback_is_one_unit_of_header_and_body() -> None:
    graph = compile_canvas(
        chord([sig("a"), group(sig("b"), sig("c"))], sig("d", link=sig("cb")), linkError=sig("eb"))
    )
    assert [attachment.units for attachment in graph.errbacks] == [(("t0", "t1", "t2", "t3"),)]


def test_group_errback_is_one_unit_per_member_nested_flattened() -> None:
    canvas = group(
        sig("a", link=sig("a_cb")),
        group(sig("b"), group(sig("c"))),
        chain(sig("d"), sig("e")),
        chord([sig("f")], sig("g")),
        {"chunks": {"task": "m.h", "items": [[1], [2], [3]], "size": 2}},
        group(),
        linkError=sig("eb"),
    )
    graph = compile_canvas(canvas)
    assert graph.errbacks[0].units == (
        ("t0",),
        ("t2",),
        ("t3",),
        ("t4", "t5"),
        ("t6", "t7"),
        ("t8",),
        ("t9",),
    )


def test_chain_map_and_task_errbacks_are_one_unit() -> None:
    graph = compile_canvas(
        chain(
            sig("a", linkError=sig("eb_a")),
            group(sig("b"), sig("c")),
            {"map": {"task": "m.m", "items": []}, "linkError": sig("eb_map")},
            linkError=[sig("eb_chain1"), sig("eb_chain2")],
        )
    )
    units = {attachment.template[0].task: attachment.units for attachment in graph.errbacks}
    assert units == {
        "conftasks.eb_a": (("t0",),),
        "m.m" if False else "conftasks.eb_map": (("t3",),),
        "conftasks.eb_chain1": (("t0", "t1", "t2", "t3"),),
        "conftasks.eb_chain2": (("t0", "t1", "t2", "t3"),),
    }
    assert [attachment.id for attachment in graph.errbacks] == ["e0", "e1", "e2", "e3"]


def test_errback_template_is_compiled_with_local_ids_and_an_errback_input() -> None:
    graph = compile_canvas(
        sig("a", linkError=chain(sig("eb1", 1), group(sig("eb2"), sig("eb3")), sig("eb4")))
    )
    template = graph.errbacks[0].template
    assert [node.id for node in template] == ["0", "1", "2", "3"]
    assert {node.role for node in template} == {"errback"}
    assert template[0].input is not None
    assert template[0].input.kind == "errback"
    assert template[1].input is not None
    assert template[1].input.ref == NodeRef("0")
    assert template[3].deps == ("1", "2")
    assert template[3].join


def test_one_member_group_with_link_error_in_a_chain() -> None:
    graph = compile_canvas(chain(sig("a"), group(chain(sig("b"), sig("c")), linkError=sig("eb"))))
    assert graph.errbacks[0].units == (("t1", "t2"),)


def test_an_errback_cannot_have_errbacks() -> None:
    canvas = sig("a", linkError=[sig("ok"), sig("eb", linkError=sig("eb2"))])
    with pytest.raises(InvalidWorkflow) as caught:
        compile_canvas(canvas)
    assert [str(problem) for problem in caught.value.problems] == [
        "spec.canvas.linkError[1].linkError: an errback cannot have errbacks"
    ]


def test_graph_json_round_trip() -> None:
    canvas: dict[str, Any] = chain(
        sig("a", 1, kwargs={"k": [1, {"x": None}]}, options={"retries": {"max": 1}}, link=sig("cb")),
        chord([group(sig("b"), sig("c")), {"chunks": {"task": "m.d", "items": [[1]], "size": 1}}], sig("e")),
        linkError=chain(sig("eb"), sig("eb2")),
    )
    graph = compile_canvas(canvas, args=[1], kwargs={"z": 2})
    assert Graph.from_json(graph.to_json()) == graph


def test_an_empty_errback_canvas_is_dropped() -> None:
    graph = compile_canvas(sig("a", linkError=[{"group": []}, sig("eb")]))
    assert [(attachment.id, attachment.template[0].task) for attachment in graph.errbacks] == [
        ("e0", "conftasks.eb")
    ]
