"""Properties of random valid canvases, checked with hypothesis.

Canvases are drawn as the Workflow's YAML would give them (dicts), from all seven forms,
nested, with link/linkError, options (retries, countdown, expires, priority),
immutability and empty groups. Every task is an echo that also names itself, so a
result spells out how every argument travelled; a reference evaluator written
straight from the contract's argument rules (independent of the compiler) says what a
run where nothing fails must return.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubecanvas.canvas.compiler import compile_spec
from kubecanvas.canvas.validation import parse_spec
from kubecanvas.engine import Phase, TaskState
from kubecanvas.graph import Graph
from support.simulation import (
    Expire,
    Lost,
    Outcome,
    Raise,
    RetryRequest,
    SimulationResult,
    compile_canvas,
    simulate,
)

EXAMPLES = int(os.environ.get("KUBECANVAS_PROPERTY_EXAMPLES", "60"))  # raise both to hunt for bugs
LEAVES = int(os.environ.get("KUBECANVAS_PROPERTY_LEAVES", "8"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

TASKS = ["p.a", "p.b", "p.c"]
ERRBACKS = ["p.eb", "p.ebfail"]


def _echo(name: str) -> Callable[..., Any]:
    def echo(*args: Any, **kwargs: Any) -> Any:
        return [name, list(args), kwargs]

    return echo


def _fail(*args: Any, **kwargs: Any) -> Any:
    raise ValueError("errback failed")


FUNCTIONS: dict[str, Callable[..., Any]] = {name: _echo(name) for name in [*TASKS, "p.eb", "p.cb"]}
FUNCTIONS["p.ebfail"] = _fail

# ------------------------------------------------------------------ strategies

scalars = st.one_of(st.integers(-3, 3), st.sampled_from(["x", "y", ""]), st.booleans(), st.none())
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from("ab"), inner, max_size=2),
    max_leaves=3,
)
arg_lists = st.lists(json_values, max_size=2)
kwarg_maps = st.dictionaries(st.sampled_from(["k", "m", "n"]), json_values, max_size=2)


def options(timing: bool) -> st.SearchStrategy[dict[str, Any]]:
    retries = st.fixed_dictionaries(
        {},
        optional={
            "max": st.integers(0, 2),
            "delay": st.sampled_from([0, 0.5, 1]),
            "backoff": st.sampled_from([1, 2]),
            "backoffMax": st.sampled_from([1, 3]),
            "jitter": st.booleans(),
            "autoretryFor": st.sampled_from([["ValueError"], ["Exception"], ["KeyError"]]),
        },
    )
    optional: dict[str, st.SearchStrategy[Any]] = {
        "countdown": st.sampled_from([0, 0.5, 2]),
        "priority": st.integers(0, 3),
        "retries": retries,
    }
    if timing:
        optional["expires"] = st.sampled_from([0.5, 3, 50])
    return st.fixed_dictionaries({}, optional=optional)


def errback_canvases() -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.builds(
        lambda task, args, immutable: {"task": task, "args": args, "immutable": immutable},
        st.sampled_from(ERRBACKS),
        st.lists(scalars, max_size=1),
        st.booleans(),
    )
    return (
        leaf
        | st.builds(lambda steps: {"chain": steps}, st.lists(leaf, min_size=1, max_size=2))
        | st.builds(lambda members: {"group": members}, st.lists(leaf, max_size=2))
        | st.builds(
            lambda header: {"chord": {"header": header, "body": {"task": "p.eb"}}}, st.lists(leaf, max_size=2)
        )
    )


def callbacks() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda immutable: {"task": "p.cb", "immutable": immutable}, st.booleans())


def extras(timing: bool, links: bool) -> st.SearchStrategy[dict[str, Any]]:
    optional: dict[str, st.SearchStrategy[Any]] = {"options": options(timing)}
    if links:
        optional["link"] = st.lists(callbacks(), min_size=1, max_size=2)
        optional["linkError"] = st.lists(errback_canvases(), min_size=1, max_size=2)
    return st.fixed_dictionaries({}, optional=optional)


def canvases(
    *, timing: bool = True, links: bool = True, max_leaves: int = LEAVES
) -> st.SearchStrategy[dict[str, Any]]:
    def with_extras(form: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        return st.builds(lambda canvas, more: {**canvas, **more}, form, extras(timing, links))

    signature = st.builds(
        lambda task, args, kwargs, immutable: {
            "task": task,
            "args": args,
            "kwargs": kwargs,
            "immutable": immutable,
        },
        st.sampled_from(TASKS),
        arg_lists,
        kwarg_maps,
        st.booleans(),
    )
    mapped = st.builds(
        lambda kind, task, items: {kind: {"task": task, "items": items}},
        st.just("map"),
        st.sampled_from(TASKS),
        st.lists(json_values, max_size=3),
    )
    starmapped = st.builds(
        lambda task, items: {"starmap": {"task": task, "items": items}},
        st.sampled_from(TASKS),
        st.lists(arg_lists, max_size=3),
    )
    chunked = st.builds(
        lambda task, items, size: {"chunks": {"task": task, "items": items, "size": size}},
        st.sampled_from(TASKS),
        st.lists(arg_lists, max_size=4),
        st.integers(1, 3),
    )
    leaves = with_extras(signature) | with_extras(mapped | starmapped | chunked)

    def composites(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        chain = st.builds(lambda steps: {"chain": steps}, st.lists(children, min_size=1, max_size=3))
        group = st.builds(lambda members: {"group": members}, st.lists(children, max_size=3))
        chord = st.builds(
            lambda header, body: {"chord": {"header": header, "body": body}},
            st.lists(children, max_size=3),
            children,
        )
        return with_extras(chain | group | chord)

    return st.recursive(leaves, composites, max_leaves=max_leaves)


def specs(**canvas_options: Any) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"canvas": canvases(**canvas_options)},
        optional={
            "args": arg_lists,
            "kwargs": kwarg_maps,
            "defaults": options(canvas_options.get("timing", True)),
        },
    )


outcomes: st.SearchStrategy[Outcome] = st.sampled_from(
    [
        Raise("ValueError", "boom", ("ValueError", "Exception")),
        Raise("KeyError", "'k'", ("KeyError", "LookupError", "Exception")),
        Lost(),
        RetryRequest(countdown=0),
        RetryRequest(countdown=1, max_retries=1),
        Expire(),
    ]
)
runs = st.fixed_dictionaries(
    {
        "order": st.sampled_from(["canvas", "reverse", "fifo", "random"]),
        "seed": st.integers(0, 1000),
        "parallelism": st.sampled_from([1, 2, 3, 50]),
    },
    optional={"start_delay": st.sampled_from([0.25, 0.75])},  # launched, not yet started: may expire
)


def _graph(spec: dict[str, Any]) -> Graph:
    return compile_spec(parse_spec(spec))


def _scripts(data: st.DataObject, graph: Graph) -> dict[str, list[Outcome]]:
    failing = data.draw(
        st.sets(st.sampled_from([node.id for node in graph.nodes])) if graph.nodes else st.just(set())
    )
    return {task_id: data.draw(st.lists(outcomes, min_size=1, max_size=3)) for task_id in sorted(failing)}


def _run(graph: Graph, **how: Any) -> SimulationResult:
    return simulate(graph, functions=FUNCTIONS, **how)


# ------------------------------------------------------------------ the reference evaluator

_Value = Any


def reference(spec: dict[str, Any]) -> _Value:
    """The workflow's result when nothing fails, from the contract's rules alone."""
    start = (
        ("spec", spec.get("args", []), spec.get("kwargs", {}))
        if spec.get("args") or spec.get("kwargs")
        else None
    )
    value, _ = _evaluate(spec["canvas"], start)
    return value


def _call(task: str, args: list[Any], kwargs: dict[str, Any]) -> _Value:
    return [task, args, kwargs]


def _evaluate(canvas: dict[str, Any], given: tuple[Any, ...] | None) -> tuple[_Value, list[_Value] | None]:
    """(value, items to splice into an enclosing group, or None)."""
    if "task" in canvas:
        args, kwargs = list(canvas.get("args", [])), dict(canvas.get("kwargs", {}))
        if canvas.get("immutable") or given is None:
            return _call(canvas["task"], args, kwargs), None
        if given[0] == "value":
            return _call(canvas["task"], [given[1], *args], kwargs), None
        return _call(canvas["task"], [*given[1], *args], {**kwargs, **given[2]}), None
    if "map" in canvas:
        return [_call(canvas["map"]["task"], [item], {}) for item in canvas["map"]["items"]], None
    if "starmap" in canvas:
        return [_call(canvas["starmap"]["task"], list(item), {}) for item in canvas["starmap"]["items"]], None
    if "chunks" in canvas:
        parts = canvas["chunks"]
        given_items = parts["items"]
        chunks = [
            [_call(parts["task"], list(item), {}) for item in given_items[start : start + parts["size"]]]
            for start in range(0, len(given_items), parts["size"])
        ]
        return chunks, chunks
    if "chain" in canvas:
        value: _Value = None
        for position, element in enumerate(canvas["chain"]):
            step = element
            if "group" in step and len(step["group"]) == 1:
                step = step["group"][0]  # contract 3.7, once (Celery's maybe_unroll_group)
            value, _ = _evaluate(step, given if position == 0 else ("value", value))
        return value, None
    if "group" in canvas:
        items: list[_Value] = []
        for member in canvas["group"]:
            value, spliced = _evaluate(member, given)
            if spliced is None:
                items.append(value)
            else:
                items.extend(spliced)
        return items, items
    header, _ = _evaluate({"group": canvas["chord"]["header"]}, given)
    value, _ = _evaluate(canvas["chord"]["body"], ("value", header))
    return value, None


# ------------------------------------------------------------------ checks shared by the properties


def _outcome(run: SimulationResult) -> dict[str, Any]:
    error = run.error
    return {
        "phase": run.phase,
        "result": run.result,
        "error": error and error.to_json(),
        "states": {
            task_id: (record.state, record.attempt, record.reason) for task_id, record in run.records.items()
        },
        "errbacks": sorted(call.task_id for call in run.errback_calls()),
        "launches": run.launches,
    }


def _check_end(run: SimulationResult, revoked: bool = False) -> None:
    engine = run.engine
    position = {node.id: node.index for node in engine.nodes.values()}
    assert engine.phase in ((Phase.REVOKED,) if revoked else (Phase.SUCCEEDED, Phase.FAILED))
    unfinished = {task_id: record.state for task_id, record in engine.records.items() if not record.terminal}
    assert not unfinished
    assert engine.finished_count == engine.total == len(engine.records)
    for node in engine.nodes.values():
        record = engine.records[node.id]
        ran = record.attempt > 0
        if ran or record.state == TaskState.SUCCESS:
            assert all(engine.records[dep].state == TaskState.SUCCESS for dep in node.deps), node.id
        if record.state == TaskState.REVOKED:
            assert record.reason in (
                ("revoked", "upstream", "expired") if revoked else ("upstream", "expired")
            )
        if record.reason == "chord":
            assert node.join
            lowest = min(
                (dep for dep in node.deps if engine.records[dep].unsuccessful), key=position.__getitem__
            )
            expected = lowest if engine.records[lowest].failed_on_its_own else engine.records[lowest].cause
            assert record.cause == expected
            assert record.cause is not None
            assert engine.records[record.cause].failed_on_its_own
    # errbacks: at most once per unit, and exactly for the units where a task failed on its own
    # or a chord body failed because its header did (Celery calls a body's own errback then)
    fired = {node_id.rsplit(".", 1)[0] for node_id in engine.nodes if node_id.startswith("e")}
    instances = [node_id for node_id in engine.nodes if node_id.startswith("e")]
    assert len(instances) == len(set(instances))
    if revoked:
        return  # a unit finished by the revoke fires nothing; the caller checks that no call followed
    for attachment in engine.graph.errbacks:
        for unit_index, unit in enumerate(attachment.units):
            failed = any(
                engine.records[node_id].failed_on_its_own or engine.records[node_id].reason == "chord"
                for node_id in unit
            )
            assert (f"{attachment.id}.{unit_index}" in fired) == failed
    # the root cause: the first main-line failure in canvas order, else the first failed callback
    culprits = sorted(
        (node.role == "callback", node.index, node.id)
        for node in engine.nodes.values()
        if node.role != "errback" and engine.records[node.id].failed_on_its_own
    )
    error = engine.error()
    if culprits:
        assert engine.phase == Phase.FAILED
        assert error is not None
        assert error.task_id == culprits[0][2]
    else:
        assert engine.phase == Phase.SUCCEEDED
        assert error is None


# ------------------------------------------------------------------ properties


@PROPERTY
@given(spec=specs())
def test_every_random_canvas_validates_and_compiles_in_canvas_order(spec: dict[str, Any]) -> None:
    graph = _graph(spec)
    ids = [node.id for node in graph.nodes]
    assert ids == [f"t{index}" for index in range(len(ids))]
    assert [node.index for node in graph.nodes] == list(range(len(ids)))
    position = {node.id: node.index for node in graph.nodes}
    for node in graph.nodes:
        assert len(set(node.deps)) == len(node.deps)
        assert all(position[dep] < node.index for dep in node.deps), (node.id, node.deps)
        if node.input is not None and node.input.ref is not None:
            from kubecanvas.graph import ref_node_ids

            assert set(ref_node_ids(node.input.ref)) <= set(node.deps)
    for attachment in graph.errbacks:
        local = [node.id for node in attachment.template]
        assert local == [str(index) for index in range(len(local))]
        for unit in attachment.units:
            assert unit
            assert set(unit) <= set(ids)
            assert all(graph.nodes[position[node_id]].role != "callback" for node_id in unit)
    assert Graph.from_json(graph.to_json()) == graph


@PROPERTY
@given(spec=specs(timing=False), how=runs)
def test_success_only_runs_match_the_reference_in_any_order(
    spec: dict[str, Any], how: dict[str, Any]
) -> None:
    graph = _graph(spec)
    run = _run(graph, **how)
    assert run.phase == Phase.SUCCEEDED, run.error
    assert run.result == reference(spec)
    _check_end(run)


@PROPERTY
@given(spec=specs(), how=runs, data=st.data())
def test_any_failures_in_any_order_end_cleanly(
    spec: dict[str, Any], how: dict[str, Any], data: st.DataObject
) -> None:
    graph = _graph(spec)
    run = _run(graph, script=_scripts(data, graph), **how)
    _check_end(run)
    assert run.max_running <= how["parallelism"]


timeless_outcomes: st.SearchStrategy[Outcome] = st.sampled_from(
    [
        Raise("ValueError", "boom", ("ValueError", "Exception")),
        Raise("KeyError", "'k'", ("KeyError", "LookupError", "Exception")),
        Lost(),
        RetryRequest(countdown=0),
        RetryRequest(countdown=2, max_retries=1),
    ]
)


@PROPERTY
@given(spec=specs(timing=False), first=runs, second=runs, data=st.data())
def test_without_expiry_the_outcome_does_not_depend_on_completion_order(
    spec: dict[str, Any], first: dict[str, Any], second: dict[str, Any], data: st.DataObject
) -> None:
    """Without `expires` nothing depends on time: whatever fails, every task's fate, the
    root cause, the result and the errbacks are the same in any order and parallelism."""
    graph = _graph(spec)
    failing = data.draw(
        st.sets(st.sampled_from([node.id for node in graph.nodes])) if graph.nodes else st.just(set())
    )
    script = {
        task_id: data.draw(st.lists(timeless_outcomes, min_size=1, max_size=3)) for task_id in sorted(failing)
    }
    runs_ = [_run(graph, script=script, **how) for how in (first, second)]

    def fate(run: SimulationResult) -> dict[str, Any]:
        error = run.error
        return {
            "phase": run.phase,
            "result": run.result,
            "error": error and error.to_json(),
            # A REVOKED dependent names the failure that revoked it, the first to arrive:
            # only a link callback on a group has several dependencies and is not a join.
            "states": {
                task_id: (
                    record.state,
                    record.attempt,
                    record.reason,
                    record.cause if record.reason != "upstream" else None,
                )
                for task_id, record in run.records.items()
            },
            "errbacks": sorted((call.task_id, tuple(call.args)) for call in run.errback_calls()),
        }

    assert fate(runs_[0]) == fate(runs_[1])
    for run in runs_:
        _check_end(run)


@PROPERTY
@given(spec=specs(), how=runs, data=st.data(), revoke_at=st.floats(0, 6))
def test_a_revoke_at_any_moment_ends_everything_and_runs_no_errback(
    spec: dict[str, Any], how: dict[str, Any], data: st.DataObject, revoke_at: float
) -> None:
    graph = _graph(spec)
    run = _run(graph, script=_scripts(data, graph), revoke_at=revoke_at, **how)
    if run.phase != Phase.REVOKED:
        assert run.engine.finished_at is not None
        assert run.engine.finished_at <= revoke_at
        _check_end(run)  # it was over before the revoke
        return
    assert run.engine.finished_at == revoke_at
    _check_end(run, revoked=True)
    killed = {(kill.task_id, kill.attempt) for kill, when in run.kills if kill.reason == "revoked"}
    assert all(when == revoke_at for kill, when in run.kills if kill.reason == "revoked")
    launched_at_revoke = {(task_id, attempt) for task_id, attempt, _ in run.launches} - {
        (call.task_id, call.attempt) for call in run.calls
    }
    assert killed <= launched_at_revoke
    assert not [call for call in run.calls if call.at > revoke_at]


@PROPERTY
@given(spec=specs(), how=runs, data=st.data())
def test_resume_from_persisted_records_at_a_random_point_ends_the_same(
    spec: dict[str, Any], how: dict[str, Any], data: st.DataObject
) -> None:
    graph = _graph(spec)
    script = _scripts(data, graph)
    baseline = _run(graph, script=script, **how)
    points = data.draw(st.sets(st.integers(1, max(len(baseline.steps), 1)), min_size=1, max_size=3))
    resumed = _run(graph, script=script, resume_after=points, **how)
    assert _outcome(resumed) == _outcome(baseline)
    _check_end(resumed)


def test_the_reference_agrees_with_the_contract_examples() -> None:
    """The reference evaluator itself, on a few contract-shaped canvases."""
    spec: dict[str, Any] = {
        "canvas": {
            "chain": [
                {"task": "p.a", "args": [1]},
                {"group": [{"task": "p.b"}, {"group": [{"task": "p.c", "immutable": True}]}]},
                {"task": "p.a"},
            ]
        },
        "args": [0],
    }
    a0 = ["p.a", [0, 1], {}]
    assert reference(spec) == ["p.a", [[["p.b", [a0], {}], ["p.c", [], {}]]], {}]
    graph = compile_canvas(spec["canvas"], args=[0])
    assert _run(graph).result == reference(spec)
