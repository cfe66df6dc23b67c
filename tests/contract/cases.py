"""The contract's public cases 1-30 (shared/canvas-semantics.md, section 5) as data, and
ours from 31 on, written the same way (31: a chord body's own errback, as Celery runs it).

Each case names its Workflow file under examples/contract/ and what must come out.
Expectations read only the workflow document (`{name, phase, result, error, tasks}`),
which `kubecanvas run -o json` and `kubecanvas get -o json` both print, plus the
moment the workflow started; so the same table checks the local runner, the eager
runner and the cluster. A harness runs the file, performs the case's `revoke_after`
(the local runner's `revoke()`, or `spec.revoke: true` on a cluster) and calls
`verify(case, Observed(document, started_at))`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["CASES", "EXAMPLES", "Case", "Observed", "case", "verify"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "contract"
FINAL_STATES = {"SUCCESS", "FAILURE", "REVOKED"}

_ANY = object()  # the result is not checked


@dataclass(frozen=True)
class Observed:
    """What a harness saw: the document, and when the workflow started (epoch seconds)."""

    document: dict[str, Any]
    started_at: float | None = None

    @property
    def tasks(self) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = self.document["tasks"]
        return tasks

    def named(self, task: str) -> list[dict[str, Any]]:
        return [entry for entry in self.tasks if entry["task"] == task]


@dataclass(frozen=True)
class Case:
    number: int
    file: str
    phase: str
    result: Any = _ANY
    error_type: str | None = None
    culprit: int | None = None  # index in `tasks` of the root cause named by `error.taskId`
    check: Callable[[Observed], None] | None = None
    revoke_after: float | None = None  # seconds after the start
    retried: bool = False  # some task runs more than once

    @property
    def path(self) -> Path:
        return EXAMPLES / self.file

    @property
    def name(self) -> str:
        return f"case-{self.number:02d}"

    @property
    def id(self) -> str:
        return self.file.removesuffix(".yaml")


def verify(case: Case, observed: Observed) -> None:
    """Assert everything the contract promises for `case` about what was observed."""
    document, tasks = observed.document, observed.tasks
    assert document["name"] == case.name
    assert document["phase"] == case.phase, _explain(observed)
    if case.result is not _ANY:
        assert document["result"] == case.result
    stuck = [(task["id"], task["state"]) for task in tasks if task["state"] not in FINAL_STATES]
    assert not stuck, f"tasks left unfinished in a finished workflow: {stuck}"
    if case.phase == "Failed":
        error = document["error"]
        assert error is not None, "a failed workflow names its root cause"
        assert error["type"] == case.error_type
        assert case.culprit is not None
        assert error["taskId"] == tasks[case.culprit]["id"]
        assert error["task"] == tasks[case.culprit]["task"]
    else:
        assert document["error"] is None
    if case.phase == "Succeeded":
        assert all(task["state"] == "SUCCESS" for task in tasks)
        assert all(task["error"] is None for task in tasks)
    if not case.retried:
        assert all(task["attempts"] <= 1 for task in tasks), [(t["id"], t["attempts"]) for t in tasks]
    if case.check is not None:
        case.check(observed)


def _explain(observed: Observed) -> str:
    return f"error: {observed.document['error']}, tasks: {[(t['id'], t['state']) for t in observed.tasks]}"


def _seconds(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------------- checks


def _third_never_pending(observed: Observed) -> None:
    first, failing, third = observed.tasks
    assert (first["state"], first["result"]) == ("SUCCESS", 3)
    assert failing["state"] == "FAILURE"
    assert failing["error"]["type"] == "ExpectedException"
    assert third["state"] in ("FAILURE", "REVOKED")
    assert third["attempts"] == 0, "a task after a failure in a chain never runs"


def _chord_errback_once(observed: Observed) -> None:
    _header_failed_errback_once(observed, ["SUCCESS", "FAILURE", "SUCCESS", "FAILURE"])


def _body_errback_once(observed: Observed) -> None:
    _header_failed_errback_once(observed, ["SUCCESS", "FAILURE", "FAILURE"])


def _header_failed_errback_once(observed: Observed, header_states: list[str]) -> None:
    """A chord whose header failed (its second task first): the body never runs, and the
    errback (on the chord, or on its body) runs exactly once, for that task."""
    header = observed.tasks[: len(header_states)]
    assert [task["state"] for task in header] == header_states
    (body,) = observed.named("conftasks.tsum")
    assert body["state"] == "FAILURE"
    assert body["attempts"] == 0, "the body never runs"
    assert body["error"]["type"] == "ChordError"
    assert body["error"]["message"].startswith(f"Dependency {header[1]['id']} raised ExpectedException(")
    errbacks = observed.named("conftasks.log_error")
    assert len(errbacks) == 1, "the errback runs exactly once"
    assert errbacks[0]["state"] == "SUCCESS"
    assert (
        errbacks[0]["result"]
        == f"conftasks.fail[{header[1]['uuid']}] raised ExpectedException: Task expected to fail"
    )


def _group_errback_per_failure(observed: Observed) -> None:
    first, identity, third = observed.tasks[:3]
    assert (first["state"], third["state"]) == ("FAILURE", "FAILURE")
    assert (identity["state"], identity["result"]) == ("SUCCESS", 1)
    errbacks = observed.named("conftasks.log_error")
    assert len(errbacks) == 2, "a group's errback runs once per failing member"
    assert all(errback["state"] == "SUCCESS" for errback in errbacks)
    assert sorted(errback["result"] for errback in errbacks) == sorted(
        f"conftasks.fail[{task['uuid']}] raised ExpectedException: Task expected to fail"
        for task in (first, third)
    )


def _three_attempts(state: str) -> Callable[[Observed], None]:
    def check(observed: Observed) -> None:
        (flaky,) = observed.tasks
        assert flaky["state"] == state
        assert flaky["attempts"] == 3

    return check


def _counted_down(observed: Observed) -> None:
    (task,) = observed.tasks
    assert observed.started_at is not None, "case 29 needs the workflow's start time"
    waited = _seconds(task["startedAt"]) - observed.started_at
    assert waited >= 3 - 0.01, f"started {waited:.3f}s after the workflow, countdown is 3s"


def _revoked(observed: Observed) -> None:
    (task,) = observed.tasks
    assert task["state"] == "REVOKED"
    assert task["result"] is None


def _all_ran(count: int) -> Callable[[Observed], None]:
    def check(observed: Observed) -> None:
        assert len(observed.tasks) == count
        assert all(task["attempts"] == 1 for task in observed.tasks)

    return check


def _chord_args(observed: Observed) -> None:
    (body,) = observed.named("conftasks.echo")
    assert body["args"] == [[2, 4], "x"]
    assert body["kwargs"] == {"k": 1}


CASES: list[Case] = [
    Case(1, "case-01-add.yaml", "Succeeded", 4, check=_all_ran(1)),
    Case(2, "case-02-partial-args.yaml", "Succeeded", 20),
    Case(3, "case-03-kwargs-merge.yaml", "Succeeded", [[2, 1], {"a": 1, "b": 3, "c": 4}]),
    Case(4, "case-04-immutable.yaml", "Succeeded", [[1], {"a": 1}]),
    Case(5, "case-05-chain.yaml", "Succeeded", 32, check=_all_ran(3)),
    Case(6, "case-06-chain-spec-args.yaml", "Succeeded", 160),
    Case(7, "case-07-nested-chain.yaml", "Succeeded", 352, check=_all_ran(4)),
    Case(8, "case-08-immutable-chain.yaml", "Succeeded", 16, check=_all_ran(3)),
    Case(9, "case-09-group.yaml", "Succeeded", [2 * i for i in range(10)], check=_all_ran(10)),
    Case(10, "case-10-group-spec-args.yaml", "Succeeded", [11, 12, [[10, 9], {}]]),
    Case(11, "case-11-empty-group.yaml", "Succeeded", [], check=_all_ran(0)),
    Case(12, "case-12-nested-groups.yaml", "Succeeded", [11, 101, 1001, 2001], check=_all_ran(4)),
    Case(13, "case-13-chord-sum.yaml", "Succeeded", 90, check=_all_ran(11)),
    Case(14, "case-14-chain-into-group.yaml", "Succeeded", [14, 14], check=_all_ran(4)),
    Case(15, "case-15-chord-100.yaml", "Succeeded", 9900, check=_all_ran(101)),
    Case(16, "case-16-chord-body-partial.yaml", "Succeeded", [[[2, 4], "x"], {"k": 1}], check=_chord_args),
    Case(17, "case-17-chord-immutable-body.yaml", "Succeeded", [["done"], {}]),
    Case(18, "case-18-chord-chain-header.yaml", "Succeeded", [30, 7]),
    Case(19, "case-19-empty-chord.yaml", "Succeeded", [], check=_all_ran(1)),
    Case(20, "case-20-chord-in-chain.yaml", "Succeeded", 110),
    Case(21, "case-21-map.yaml", "Succeeded", [3, 7], check=_all_ran(1)),
    Case(22, "case-22-starmap.yaml", "Succeeded", [0, 2, 4], check=_all_ran(1)),
    Case(
        23, "case-23-chunks.yaml", "Succeeded", [[0, 2, 4], [6, 8, 10], [12, 14, 16], [18]], check=_all_ran(4)
    ),
    Case(24, "case-24-chain-failure.yaml", "Failed", None, "ExpectedException", 1, _third_never_pending),
    Case(25, "case-25-chord-errback.yaml", "Failed", None, "ExpectedException", 1, _chord_errback_once),
    Case(
        26, "case-26-group-errback.yaml", "Failed", None, "ExpectedException", 0, _group_errback_per_failure
    ),
    Case(27, "case-27-retry-succeeds.yaml", "Succeeded", 3, check=_three_attempts("SUCCESS"), retried=True),
    Case(
        28,
        "case-28-retry-exhausted.yaml",
        "Failed",
        None,
        "RuntimeError",
        0,
        _three_attempts("FAILURE"),
        retried=True,
    ),
    Case(29, "case-29-countdown.yaml", "Succeeded", 2, check=_counted_down),
    Case(30, "case-30-revoke.yaml", "Revoked", None, check=_revoked, revoke_after=2.0),
    Case(31, "case-31-chord-body-errback.yaml", "Failed", None, "ExpectedException", 1, _body_errback_once),
]


def case(number: int) -> Case:
    (found,) = [entry for entry in CASES if entry.number == number]
    return found
