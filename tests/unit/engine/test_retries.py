"""Retries: the Workflow's rule, the decorator's rule, lost pods and self.retry()."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubecanvas.engine import Engine, Phase, RetryRule, TaskFailure, TaskRecord, TaskState, retry_rule
from kubecanvas.engine.events import Failed
from kubecanvas.engine.retries import DEFAULT_MAX_RETRIES, LONGEST_DELAY
from support.simulation import Lost, Raise, RetryRequest, Succeed, chain, compile_canvas, sig, simulate

FAIL = Raise("ValueError", "boom", types=("ValueError", "Exception"))


def _gaps(run: Any, task_id: str = "t0") -> list[float]:
    """Seconds between the end of each attempt and the launch of the next."""
    ends = [call.at for call in run.calls if call.task_id == task_id]
    relaunches = run.launch_times(task_id)[1:]
    return [round(launched - ended, 9) for ended, launched in zip(ends, relaunches, strict=False)]


def test_delay_between_retries() -> None:
    run = simulate(sig("add", 1, 1, options={"retries": {"max": 2, "delay": 5}}), script={"t0": [FAIL, FAIL]})
    assert run.result == 2
    assert _gaps(run) == [5.0, 5.0]


def test_default_delay_is_one_second() -> None:
    run = simulate(sig("add", 1, 1, options={"retries": {"max": 1}}), script={"t0": [FAIL]})
    assert _gaps(run) == [1.0]


def test_backoff_and_backoff_max() -> None:
    options = {"retries": {"max": 5, "delay": 2, "backoff": 3, "backoffMax": 30}}
    run = simulate(sig("add", 1, 1, options=options), script={"t0": [FAIL] * 5})
    assert _gaps(run) == [2.0, 6.0, 18.0, 30.0, 30.0]
    assert run.result == 2


def test_zero_delay_relaunches_in_the_same_step() -> None:
    run = simulate(sig("add", 1, 1, options={"retries": {"max": 1, "delay": 0}}), script={"t0": [FAIL]})
    assert _gaps(run) == [0.0]
    failing_step = next(step for step in run.steps if any(launch.attempt == 2 for launch in step.launches))
    assert "t0" in failing_step.changed


@pytest.mark.parametrize("seed_task", ["t0", "other"])
def test_jitter_is_deterministic_and_within_the_countdown(seed_task: str) -> None:
    rule = RetryRule(max=10, delay=4, backoff=2, backoff_max=50, jitter=True)
    plain = RetryRule(max=10, delay=4, backoff=2, backoff_max=50)
    for number in range(1, 11):
        jittered = rule.countdown(number, seed_task)
        assert 0 <= jittered <= plain.countdown(number, seed_task)
        assert jittered == rule.countdown(number, seed_task)
    values = {rule.countdown(number, seed_task) for number in range(1, 11)}
    assert len(values) > 5  # it does vary


def test_jitter_in_a_run_matches_the_rule_and_survives_a_resume() -> None:
    options = {"retries": {"max": 3, "delay": 4, "jitter": True}}
    runs = [
        simulate(sig("add", 1, 1, options=options), script={"t0": [FAIL] * 3}, resume_after=resume)
        for resume in (None, lambda n: True)
    ]
    rule = retry_rule(options["retries"], None)
    expected = [round(rule.countdown(number, "t0"), 9) for number in (1, 2, 3)]
    assert _gaps(runs[0]) == expected
    assert _gaps(runs[1]) == expected
    assert all(0 <= gap <= 4 for gap in expected)


@pytest.mark.parametrize(
    ("autoretry_for", "retried"),
    [
        (["ValueError"], False),
        (["LookupError"], True),  # a base of KeyError
        (["builtins.KeyError"], True),  # builtins, qualified
        (["KeyError"], True),
        (["Exception"], True),
        (["TypeError"], False),
        (["app.errors.Transient"], False),
    ],
)
def test_autoretry_for_matches_the_class_and_its_bases(autoretry_for: list[str], retried: bool) -> None:
    def lookup() -> int:
        raise KeyError("missing")

    options = {"retries": {"max": 2, "delay": 1, "autoretryFor": autoretry_for}}
    run = simulate(sig("lookup", options=options), functions={"conftasks.lookup": lookup})
    assert len(run.calls) == (3 if retried else 1)
    assert run.error is not None
    assert run.error.type == "KeyError"


class TransientError(ConnectionError):
    pass


@pytest.mark.parametrize(
    "name",
    ["TransientError", f"{__name__}.TransientError", "ConnectionError", "OSError", "Exception"],
)
def test_autoretry_for_matches_qualified_names_of_user_classes(name: str) -> None:
    attempts: list[int] = []

    def flaky_io() -> str:
        attempts.append(1)
        if len(attempts) < 2:
            raise TransientError("try again")
        return "ok"

    options = {"retries": {"max": 1, "delay": 0, "autoretryFor": [name]}}
    run = simulate(sig("io", options=options), functions={"conftasks.io": flaky_io})
    assert run.result == "ok"


def test_no_retry_rule_no_automatic_retry() -> None:
    run = simulate(sig("add", 1, 1), script={"t0": [FAIL]})
    assert run.phase == Phase.FAILED
    assert len(run.calls) == 1


def test_max_zero_never_retries() -> None:
    run = simulate(sig("add", 1, 1, options={"retries": {"max": 0}}), script={"t0": [FAIL]})
    assert run.phase == Phase.FAILED
    assert len(run.calls) == 1


def test_retries_come_from_defaults_and_merge_field_by_field() -> None:
    run = simulate(
        chain(sig("add", 1, 1), sig("mul", 2, options={"retries": {"max": 2}})),
        defaults={"retries": {"max": 5, "delay": 7}},
        script={"t0": [FAIL], "t1": [FAIL, FAIL, FAIL]},
    )
    assert _gaps(run, "t0") == [7.0]
    assert _gaps(run, "t1") == [7.0, 7.0]  # delay from defaults, max from the task
    assert run.phase == Phase.FAILED
    assert run.records["t1"].attempt == 3


def test_lost_pod_is_retried_whatever_autoretry_for() -> None:
    options = {"retries": {"max": 2, "delay": 1, "autoretryFor": ["TypeError"]}}
    run = simulate(sig("add", 1, 1, options=options), script={"t0": [Lost(), Lost()]})
    assert run.result == 2
    assert [launch[1] for launch in run.launches] == [1, 2, 3]


def test_lost_pod_without_retries_fails_with_worker_lost() -> None:
    run = simulate(sig("add", 1, 1), script={"t0": [Lost("OOMKilled")]})
    assert run.phase == Phase.FAILED
    assert run.error is not None
    assert (run.error.type, run.error.message) == ("WorkerLostError", "OOMKilled")


def test_lost_pod_out_of_retries_fails() -> None:
    run = simulate(sig("add", 1, 1, options={"retries": {"max": 1}}), script={"t0": [Lost(), Lost()]})
    assert run.phase == Phase.FAILED
    assert run.records["t0"].attempt == 2


def test_self_retry_default_limit_is_celerys_three() -> None:
    run = simulate(sig("add", 1, 1), script={"t0": lambda attempt: RetryRequest(countdown=2)})
    assert run.phase == Phase.FAILED
    assert len(run.calls) == DEFAULT_MAX_RETRIES + 1
    assert _gaps(run) == [2.0, 2.0, 2.0]
    error = run.records["t0"].error
    assert error is not None
    assert error.type == "MaxRetriesExceededError"
    assert "conftasks.add[t0]" in error.message


def test_self_retry_max_retries_overrides_the_rule() -> None:
    run = simulate(
        sig("add", 1, 1, options={"retries": {"max": 10}}),
        script={"t0": lambda attempt: RetryRequest(max_retries=1)},
    )
    assert len(run.calls) == 2


def test_self_retry_past_the_limit_fails_with_exc() -> None:
    run = simulate(
        sig("add", 1, 1),
        script={"t0": lambda attempt: RetryRequest(max_retries=2, exc=Raise("IOError", "disk"))},
    )
    assert len(run.calls) == 3
    assert run.error is not None
    assert (run.error.type, run.error.message) == ("IOError", "disk")


def test_self_retry_without_countdown_uses_the_rule_delay() -> None:
    run = simulate(
        sig("add", 1, 1, options={"retries": {"max": 3, "delay": 4, "backoff": 2}}),
        script={"t0": [RetryRequest(), RetryRequest(), Succeed(9)]},
    )
    assert run.result == 9
    assert _gaps(run) == [4.0, 8.0]


def test_self_retry_is_honoured_without_any_rule() -> None:
    """Unlike automatic retries, self.retry() needs no rule."""
    run = simulate(sig("add", 1, 1), script={"t0": [RetryRequest(countdown=0)]})
    assert run.result == 2
    assert run.records["t0"].attempt == 2


def test_self_retry_raised_by_a_function() -> None:
    from kubecanvas.errors import Retry

    def patient(x: int) -> int:
        from support.simulation import current_attempt

        if current_attempt() < 3:
            raise Retry(countdown=0.5)
        return x

    run = simulate(sig("patient", 5), functions={"conftasks.patient": patient})
    assert run.result == 5
    assert _gaps(run) == [0.5, 0.5]


def test_decorator_rule_retries_only_with_autoretry_for() -> None:
    automatic = simulate(
        sig("add", 1, 1),
        script={"t0": [FAIL]},
        task_rules={"conftasks.add": {"max": 2, "delay": 3, "autoretryFor": ["ValueError"]}},
    )
    assert automatic.result == 2
    assert _gaps(automatic) == [3.0]
    manual = simulate(sig("add", 1, 1), script={"t0": [FAIL]}, task_rules={"conftasks.add": {"max": 2}})
    assert manual.phase == Phase.FAILED


def test_workflow_rule_wins_over_the_decorator_field_by_field() -> None:
    rule = retry_rule({"max": 1}, {"max": 5, "delay": 7, "autoretryFor": ["KeyError"]})
    assert (rule.max, rule.delay, rule.autoretry_for, rule.automatic) == (1, 7.0, ("KeyError",), True)
    run = simulate(
        sig("add", 1, 1, options={"retries": {"max": 1}}),
        script={"t0": [FAIL, FAIL]},
        task_rules={"conftasks.add": {"max": 5, "delay": 7}},
    )
    assert len(run.calls) == 2
    assert _gaps(run) == [7.0]


def test_retrying_task_state_and_notice() -> None:
    run = simulate(sig("add", 1, 1, options={"retries": {"max": 1, "delay": 10}}), script={"t0": [FAIL]})
    retry_steps = [step for step in run.steps if any(notice.kind == "retry" for notice in step.notices)]
    assert len(retry_steps) == 1
    assert retry_steps[0].wake_at == 11.0
    assert run.state("t0") == TaskState.SUCCESS
    assert run.records["t0"].error is None  # success clears the attempt's error
    assert run.records["t0"].started_at == 0.0  # the first attempt's start, kept


def test_a_long_backoff_does_not_overflow() -> None:
    """Regression: `delay * backoff ** (n - 1)` raised OverflowError (and crashed the
    engine) from retry 647 on with backoff 3, a valid rule with max up to 1000."""
    capped = retry_rule({"max": 1000, "backoff": 3, "backoffMax": 60}, None)
    assert capped.countdown(700, "t0") == 60.0
    uncapped = retry_rule({"max": 1000, "delay": 2, "backoff": 100, "jitter": True}, None)
    assert 0 <= uncapped.countdown(999, "t0") <= LONGEST_DELAY


def test_a_late_retry_with_a_huge_backoff_is_scheduled_and_persistable() -> None:
    graph = compile_canvas(sig("add", 1, 1, options={"retries": {"max": 1000, "backoff": 3}}))
    records = {
        "t0": TaskRecord(state=TaskState.STARTED, attempt=700, launched=True, ready_at=0.0, started_at=0.0)
    }
    engine = Engine(graph, records=records, phase=Phase.RUNNING, started_at=0.0)
    step = engine.feed(Failed("t0", 700, TaskFailure("ValueError", "x"), 10.0))
    assert engine.records["t0"].state == TaskState.RETRY
    assert step.wake_at == 10.0 + LONGEST_DELAY
    json.dumps(engine.records["t0"].to_json(), allow_nan=False)


def test_a_retries_mapping_without_max_allows_celerys_three_retries() -> None:
    run = simulate(sig("add", 1, 1, options={"retries": {"delay": 2}}), script={"t0": [FAIL] * 5})
    assert run.phase == Phase.FAILED
    assert len(run.calls) == DEFAULT_MAX_RETRIES + 1
    assert _gaps(run) == [2.0, 2.0, 2.0]
    assert retry_rule({}, None).automatic
    assert not retry_rule(None, {"max": 5}).automatic


def test_task_option_overrides_one_field_of_the_default_retries() -> None:
    run = simulate(
        sig("add", 1, 1, options={"retries": {"delay": 4}}),
        defaults={"retries": {"max": 1, "delay": 1}},
        script={"t0": [FAIL, FAIL]},
    )
    assert len(run.calls) == 2
    assert _gaps(run) == [4.0]


def test_a_bare_retry_while_handling_fails_with_max_retries_exceeded_as_in_celery() -> None:
    """Celery's `self.retry()` past the limit raises `exc` only when it is given; inside an
    `except` block without it, MaxRetriesExceededError. The runtime reports such a retry as a
    `Retry` naming the handled error (tests/unit/sdk/test_sdk_calls.py), never as that error."""
    handled = RetryRequest(max_retries=1, exc=Raise("Retry", "Retry: KeyError('k')"))
    run = simulate(sig("add", 1, 1), script={"t0": lambda attempt: handled})
    assert len(run.calls) == 2
    assert run.error is not None
    assert run.error.type == "MaxRetriesExceededError"
