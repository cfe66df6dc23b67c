"""Mistakes are reported where they were made, naming the option or field path."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sdk_tasks import add, mul, tsum

from kubecanvas import InvalidWorkflow, KubecanvasError, chain, chord, chunks, group, signature, task


def problems(error: pytest.ExceptionInfo[InvalidWorkflow]) -> list[str]:
    return [str(problem) for problem in error.value.problems]


def test_unknown_option_is_named_with_a_hint() -> None:
    with pytest.raises(InvalidWorkflow) as error:
        add.s(1).set(countdwn=3)
    assert problems(error) == [
        "options.countdwn: unknown option 'countdwn' (did you mean 'countdown'?); "
        "options are: countdown, eta, expires, timeout, time_limit, soft_timeout, soft_time_limit, retries, "
        "image, resources, env, node_selector, tolerations, service_account_name, priority, headers, queue, "
        "runner, runners, task_id"
    ]
    assert isinstance(error.value, KubecanvasError)
    assert isinstance(error.value, ValueError)


def test_celery_only_options_say_what_to_do_instead() -> None:
    # A queue the app does not define stays the option, for the cluster to resolve or refuse.
    assert add.s(1).set(queue="fast").options["queue"] == "fast"
    with pytest.raises(InvalidWorkflow, match=r"options\.queue: must be a non-empty string"):
        add.s(1).set(queue="")
    with pytest.raises(InvalidWorkflow, match=r"'routing_key' is not supported: routing here is by queue="):
        add.s(1).set(routing_key="fast")
    with pytest.raises(InvalidWorkflow, match=r"'exchange' is not supported: routing here is by queue="):
        add.signature((1,), exchange="tasks")


def test_every_bad_option_is_reported_at_once() -> None:
    with pytest.raises(InvalidWorkflow) as error:
        add.s(1).set(countdown="soon", priority=True, nodeSelector=["a"])
    assert problems(error) == [
        "options.countdown: must be a number of seconds (or a timedelta), not 'soon'",
        "options.priority: must be a whole number from 0 to 255, not True",
        "options.nodeSelector: must be a mapping, not ['a']",
    ]


def test_option_given_twice_under_two_names() -> None:
    with pytest.raises(InvalidWorkflow, match=r"options\.timeout: given twice, as 'time_limit' and"):
        add.s(1).set(time_limit=3, timeout=4)


def test_retry_fields_are_checked() -> None:
    with pytest.raises(
        InvalidWorkflow, match=r"options.retries.maxx: unknown retry field 'maxx' \(did you mean"
    ):
        add.s(1).set(retries={"maxx": 3})
    with pytest.raises(InvalidWorkflow, match="takes exception classes"):
        add.s(1).set(retries={"max": 1, "autoretry_for": [3]})


def test_naive_datetimes_are_read_as_utc_as_celery_does() -> None:
    assert add.s(1).set(eta=datetime(2030, 1, 1, 12)).to_canvas()["options"]["eta"] == "2030-01-01T12:00:00Z"
    aware = datetime(2030, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert add.s(1).set(expires=aware).to_canvas()["options"]["expires"] == "2030-01-01T12:00:00+02:00"


def test_decorator_settings_are_checked_with_hints() -> None:
    with pytest.raises(InvalidWorkflow) as error:

        @task(max_retry=3)  # type: ignore[call-overload, untyped-decorator]
        def f() -> None: ...

    assert "unknown option 'max_retry' (did you mean 'max_retries'?)" in str(error.value)
    assert str(error.value).startswith("@task(")
    with pytest.raises(TypeError, match="exception classes"):

        @task(autoretry_for=(3,))  # type: ignore[arg-type]
        def g() -> None: ...


def test_values_the_model_refuses_get_the_workflow_path() -> None:
    with pytest.raises(InvalidWorkflow) as error:
        (add.s(1) | mul.s(2).set(priority=300)).to_workflow("bad")
    assert problems(error) == ["spec.canvas.chain[1].options.priority: must be at most 255, got 300"]


def test_bad_workflow_fields_get_their_paths() -> None:
    with pytest.raises(InvalidWorkflow) as error:
        add.s(1).to_workflow("Bad_Name", parallelism=0, code={"git": {"url": "x"}, "path": "/app"})
    assert problems(error) == [
        "metadata.name: 'Bad_Name' is not valid here "
        "(expected a lowercase DNS name: letters, digits, '-' and '.')",
        "spec.code: give exactly one of configMap, git, pip or path (got git, path)",
        "spec.parallelism: must be at least 1, got 0",
    ]


def test_arguments_must_be_json() -> None:
    with pytest.raises(InvalidWorkflow) as error:
        (add.s(1) | add.s({"when": complex(1, 2)})).to_canvas()
    assert problems(error) == ["canvas.chain[1].args[0].when: complex (1+2j) is not a JSON value"]
    with pytest.raises(InvalidWorkflow, match=r"spec.args\[0\]: set"):
        add.s(1).to_workflow("x", args=[{1, 2}])


def test_tasks_in_main_or_nested_functions_are_explained() -> None:
    with pytest.raises(
        InvalidWorkflow, match="defined in the __main__ module, which the runtime cannot import"
    ):
        signature("__main__.add").to_canvas()

    @task
    def nested(x: Any) -> Any:
        return x

    assert nested(1) == 1  # fine in-process
    with pytest.raises(InvalidWorkflow, match=r"canvas.group\[1\].task: task .* is a nested function"):
        group(add.s(1), nested.s()).to_canvas()
    with pytest.raises(InvalidWorkflow, match=r"canvas.map.task: task .* is a nested function"):
        nested.map([1]).to_canvas()


def test_empty_chain_and_chord_without_body() -> None:
    with pytest.raises(InvalidWorkflow, match=r"canvas\.chain: must have at least 1 item"):
        chain().to_canvas()
    with pytest.raises(InvalidWorkflow, match=r"canvas.chord: 'body' is required"):
        chord([add.s(1)]).to_canvas()


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(InvalidWorkflow, match=r"chunks\.size: must be a whole number of at least 1, got 0"):
        chunks(add, [[1, 1]], 0)
    with pytest.raises(InvalidWorkflow, match=r"starmap.*items\[0\] must be a list of arguments"):
        add.starmap([1]).to_workflow("bad")  # type: ignore[list-item]


def test_not_a_canvas() -> None:
    with pytest.raises(TypeError, match="expected a signature or canvas"):
        group(add.s(1), 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a task is a dotted name"):
        signature(3)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="expected a signature or canvas"):
        chord([tsum], tsum.s())  # type: ignore[list-item]
