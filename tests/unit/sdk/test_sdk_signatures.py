"""Building canvases: clone, set, immutability, callbacks, `|`, options."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sdk_tasks import add, configured, double, echo, identity, log_error, mul, tsum

from kubecanvas import Signature, chain, chord, chunks, group, signature, xmap, xstarmap


def test_clone_prepends_args_and_merges_kwargs() -> None:
    original = echo.s(1, a=1, b=2)
    twin = original.clone(args=(0,), kwargs={"b": 3})
    assert twin.to_canvas() == {"task": "conftasks.echo", "args": [0, 1], "kwargs": {"a": 1, "b": 3}}
    assert original.to_canvas() == {"task": "conftasks.echo", "args": [1], "kwargs": {"a": 1, "b": 2}}


def test_clone_of_an_immutable_signature_keeps_its_arguments_but_merges_options() -> None:
    original = echo.si(1, a=1).set(retries={"max": 1, "delay": 5})
    twin = original.clone(args=(0,), kwargs={"b": 3}, retries={"max": 4}, countdown=2)
    assert twin.to_canvas() == {
        "task": "conftasks.echo",
        "args": [1],
        "kwargs": {"a": 1},
        "immutable": True,
        "options": {"retries": {"max": 4, "delay": 5}, "countdown": 2},
    }


def test_clone_is_independent() -> None:
    original = add.s(1).set(retries={"max": 1})
    original.link(mul.s(2))
    twin = original.clone()
    twin.set(retries={"delay": 3})
    twin.callbacks[0].set(countdown=1)
    twin.kwargs["z"] = 1
    assert original.options == {"retries": {"max": 1}}
    assert original.callbacks[0].options == {}
    assert original.kwargs == {}
    assert twin.to_canvas() == {
        "task": "conftasks.add",
        "args": [1],
        "kwargs": {"z": 1},
        "options": {"retries": {"max": 1, "delay": 3}},
        "link": [{"task": "conftasks.mul", "args": [2], "options": {"countdown": 1}}],
    }


def test_set_merges_field_by_field_and_returns_self() -> None:
    sig = add.s(1).set(retries={"max": 3, "delay": 1}, node_selector={"a": "1"}, env={"A": "1", "B": "2"})
    assert sig.set(retries={"delay": 2}, node_selector={"b": "2"}, env=[{"name": "B", "value": "3"}]) is sig
    assert sig.options == {
        "retries": {"max": 3, "delay": 2},
        "nodeSelector": {"a": "1", "b": "2"},
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}],
    }
    sig.set(tolerations=[{"key": "x"}])
    sig.set(tolerations=[{"key": "y"}])
    assert sig.options["tolerations"] == [{"key": "y"}]  # lists are replaced whole


def test_set_immutable() -> None:
    sig = add.s(1, 2).set(immutable=True)
    assert sig.immutable
    assert sig(5) == 3  # partial args ignored
    grouped = group(add.s(1), add.s(2)).set(immutable=True)
    assert all(isinstance(member, Signature) and member.immutable for member in grouped.tasks)
    with pytest.raises(TypeError, match="immutable= applies to signatures"):
        chain(add.s(1)).set(immutable=True)


def test_clone_of_a_chain_refuses_partial_args() -> None:
    with pytest.raises(TypeError, match="partial arguments cannot be given to a chain"):
        (add.s(1) | mul.s(2)).clone(args=(1,))
    assert (add.s(1) | mul.s(2)).clone(countdown=1).options == {"countdown": 1}


def test_options_are_converted_to_the_workflow_spelling() -> None:
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    sig = add.s(1).set(
        countdown=timedelta(seconds=90),
        eta=moment,
        expires=moment + timedelta(hours=1),
        time_limit=30,
        retries={"max": 2, "backoff_max": 10, "autoretry_for": (ValueError, KeyError)},
        node_selector={"pool": "cpu"},
        service_account_name="runner",
        env={"MODE": "fast", "N": 3},
        priority=5,
        image="python:3.11",
        resources={"limits": {"cpu": "1"}},
    )
    assert sig.options == {
        "countdown": 90.0,
        "eta": "2030-01-01T00:00:00Z",
        "expires": "2030-01-01T01:00:00Z",
        "timeout": 30,
        "retries": {"max": 2, "backoffMax": 10, "autoretryFor": ["ValueError", "KeyError"]},
        "nodeSelector": {"pool": "cpu"},
        "serviceAccountName": "runner",
        "env": [{"name": "MODE", "value": "fast"}, {"name": "N", "value": "3"}],
        "priority": 5,
        "image": "python:3.11",
        "resources": {"limits": {"cpu": "1"}},
    }
    sig.to_workflow("options")  # and the model agrees


def test_other_timezones_are_kept() -> None:
    moment = datetime(2030, 1, 1, tzinfo=timezone(timedelta(hours=2)))
    assert add.s().set(eta=moment).options == {"eta": "2030-01-01T00:00:00+02:00"}


def test_task_defaults_become_signature_options_and_call_time_options_win() -> None:
    assert configured.options == {
        "timeout": 30,
        "image": "python:3.11-slim",
        "nodeSelector": {"pool": "cpu"},
        "env": [{"name": "MODE", "value": "fast"}],
    }
    assert configured.time_limit == 30
    sig = configured.s(1)
    assert sig.options == configured.options
    sig.set(node_selector={"zone": "a"}, timeout=5)
    assert sig.options["nodeSelector"] == {"pool": "cpu", "zone": "a"}
    assert sig.options["timeout"] == 5
    assert configured.options["timeout"] == 30  # the task's defaults are not touched
    assert configured.map([1]).options == configured.options
    assert configured.signature((1,), countdown=2).options["countdown"] == 2


def test_link_and_link_error_return_the_callback_on_error_returns_self() -> None:
    sig = add.s(1)
    callback = mul.s(2)
    assert sig.link(callback) is callback
    errback = log_error.s()
    assert sig.link_error(errback) is errback
    assert sig.on_error(log_error.si()) is sig
    sig.link(mul.s(2))  # equal callbacks are kept once, as Celery does
    assert sig.to_canvas() == {
        "task": "conftasks.add",
        "args": [1],
        "link": [{"task": "conftasks.mul", "args": [2]}],
        "linkError": [{"task": "conftasks.log_error"}, {"task": "conftasks.log_error", "immutable": True}],
    }


def test_link_options_are_accepted_like_celery() -> None:
    sig = add.s(1).set(link=mul.s(2), link_error=[log_error.s()])
    assert [c.to_canvas() for c in sig.callbacks] == [{"task": "conftasks.mul", "args": [2]}]
    assert [c.to_canvas() for c in sig.errbacks] == [{"task": "conftasks.log_error"}]
    via_mapping = add.s(1)
    via_mapping.link({"task": "conftasks.mul", "args": [2]})
    assert via_mapping == add.s(1).set(link=mul.s(2))


def test_pipe_flattens_plain_chains_and_keeps_others() -> None:
    a, b, c, d = add.s(1), mul.s(2), add.s(3), mul.s(4)
    assert (a | b).tasks == [a, b]
    assert ((a | b) | c).tasks == [a, b, c]
    assert (a | (b | c)).tasks == [a, b, c]
    assert ((a | b) | (c | d)).tasks == [a, b, c, d]
    decorated = (c | d).on_error(log_error.s())
    assert (a | decorated).tasks == [a, decorated]  # its errback must stay on the inner chain
    with_options = chain(a, b, countdown=1)
    assert (with_options | c).tasks == [with_options, c]


def test_group_pipe_task_is_a_chain_the_compiler_treats_as_a_chord() -> None:
    canvas = group(add.s(1, 1), add.s(2, 2)) | tsum.s()
    assert isinstance(canvas, chain)
    assert canvas.to_canvas() == {
        "chain": [
            {"group": [{"task": "conftasks.add", "args": [1, 1]}, {"task": "conftasks.add", "args": [2, 2]}]},
            {"task": "conftasks.tsum"},
        ]
    }


def test_pipe_with_something_else_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        _ = add.s(1) | 3  # type: ignore[operator]  # a type error for mypy too


def test_chain_and_group_take_varargs_lists_and_generators() -> None:
    assert chain(add.s(1), mul.s(2)) == chain([add.s(1), mul.s(2)])
    assert chain(add.s(1), mul.s(2)) == chain(s for s in (add.s(1), mul.s(2)))
    assert group(add.s(1), add.s(2)) == group([add.s(1), add.s(2)])
    assert group(add.s(i) for i in range(2)) == group(add.s(0), add.s(1))
    assert group(group(add.s(1), add.s(2))) == group(add.s(1), add.s(2))  # as Celery
    assert group({"task": "conftasks.add", "args": [1]}).tasks == [add.s(1)]


def test_chain_constructor_keeps_nesting_that_pipe_would_flatten() -> None:
    nested = chain(add.s(1), chain(mul.s(2), add.s(3)))
    assert nested.to_canvas() == {
        "chain": [
            {"task": "conftasks.add", "args": [1]},
            {"chain": [{"task": "conftasks.mul", "args": [2]}, {"task": "conftasks.add", "args": [3]}]},
        ]
    }


def test_chord_forms() -> None:
    header = [add.s(1, 1), add.s(2, 2)]
    assert chord(header, tsum.s()) == chord(group(header), tsum.s())
    assert chord(header, tsum.s()).header == header
    assert chord(add.s(1, 1), tsum.s()).tasks == [add.s(1, 1)]
    decorated = group(header).on_error(log_error.s())
    assert chord(decorated, tsum.s()).tasks == [decorated]


def test_chunks_group_is_a_group_of_starmaps() -> None:
    grouped = add.chunks([[i, i] for i in range(5)], 2).set(countdown=1).on_error(log_error.s()).group()
    assert isinstance(grouped, group)
    assert all(isinstance(part, xstarmap) for part in grouped.tasks)
    assert grouped.to_canvas() == {
        "group": [
            {"starmap": {"task": "conftasks.add", "items": [[0, 0], [1, 1]]}},
            {"starmap": {"task": "conftasks.add", "items": [[2, 2], [3, 3]]}},
            {"starmap": {"task": "conftasks.add", "items": [[4, 4]]}},
        ],
        "options": {"countdown": 1},
        "linkError": [{"task": "conftasks.log_error"}],
    }
    assert chunks("conftasks.add", [], 3).group().to_canvas() == {"group": []}


def test_map_family_from_signatures() -> None:
    assert xmap(tsum.s().set(countdown=1), [[1]]).to_canvas() == {
        "map": {"task": "conftasks.tsum", "items": [[1]]},
        "options": {"countdown": 1},
    }
    with pytest.raises(TypeError, match="with each item alone"):
        xmap(add.s(1), [1])


def test_signature_factory_forms() -> None:
    assert signature("conftasks.add", args=(2, 2)).to_canvas() == {"task": "conftasks.add", "args": [2, 2]}
    assert signature("conftasks.add", (2,), {"z": 1}, immutable=True, countdown=1).to_canvas() == {
        "task": "conftasks.add",
        "args": [2],
        "kwargs": {"z": 1},
        "immutable": True,
        "options": {"countdown": 1},
    }
    assert signature(add, (1,)) == add.s(1)
    copy = signature(add.s(1), (0,))
    assert copy == add.s(0, 1)
    assert signature({"task": "conftasks.add", "args": [1]}) == add.s(1)
    assert signature({"chain": [{"task": "conftasks.add"}]}) == chain(add.s())
    assert Signature(add, (1,), countdown=2).options == {"countdown": 2}


def test_equality_and_repr() -> None:
    assert add.s(1) == add.s(1)
    assert add.s(1) != add.si(1)
    assert add.s(1) != mul.s(1)
    assert add.s(1) != chain(add.s(1))
    assert repr(add.s(1, z=2)) == "conftasks.add.s(1, z=2)"
    assert repr(add.si(1).set(countdown=1)) == "conftasks.add.si(1).set(**{'countdown': 1})"
    assert repr(add.s(1) | (mul.s(2) | chain(identity.s()))) == (
        "conftasks.add.s(1) | conftasks.mul.s(2) | conftasks.identity.s()"
    )
    assert repr(chord([add.s(1)], tsum.s())) == "chord([conftasks.add.s(1)], conftasks.tsum.s())"
    assert repr(group(double.s())) == "group([sdk_tasks.double.s()])"
    assert repr(add.chunks([[1, 1]], 1)) == "conftasks.add.chunks([[1, 1]], 1)"
    with pytest.raises(TypeError):
        hash(add.s(1))
