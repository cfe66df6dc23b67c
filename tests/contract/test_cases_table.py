"""The table itself: it covers every public case with a valid file, and its checks
reject what the contract forbids (so a harness that reuses it cannot pass vacuously)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from contract.cases import CASES, Observed, case, verify
from kubecanvas.canvas.validation import parse_workflow
from kubecanvas.graph.identity import task_uuid


def test_every_public_case_once_with_a_valid_file() -> None:
    assert [entry.number for entry in CASES] == list(range(1, 32))
    for entry in CASES:
        workflow = parse_workflow(yaml.safe_load(entry.path.read_text()))
        assert workflow.metadata.name == entry.name
        assert entry.path.name.startswith(f"{entry.name}-")


UID = "3f2a1c9e-7b4d-4e21-9a0c-5d6e7f809a1b"
UUIDS = {
    node_id: task_uuid(UID, index)
    for index, node_id in enumerate(["t0", "t1", "t2", "t3", "t4", "e0.0.0", "e0.0.1"])
}


def _task(task_id: str, task: str, state: str = "SUCCESS", **fields: Any) -> dict[str, Any]:
    entry = {
        "id": task_id,
        "uuid": UUIDS[task_id],
        "task": task,
        "state": state,
        "args": [],
        "kwargs": {},
        "result": None,
        "error": None,
        "attempts": 1,
        "startedAt": "2030-01-01T00:00:03.000Z",
        "finishedAt": "2030-01-01T00:00:04.000Z",
    }
    entry.update(fields)
    return entry


FAIL = {"type": "ExpectedException", "message": "Task expected to fail"}
CASE_25 = {
    "name": "case-25",
    "phase": "Failed",
    "result": None,
    "error": {"task": "conftasks.fail", "taskId": "t1", **FAIL},
    "tasks": [
        _task("t0", "conftasks.add", result=3),
        _task("t1", "conftasks.fail", "FAILURE", error=FAIL),
        _task("t2", "conftasks.add", result=7),
        _task("t3", "conftasks.fail", "FAILURE", error=FAIL),
        _task(
            "t4",
            "conftasks.tsum",
            "FAILURE",
            attempts=0,
            error={
                "type": "ChordError",
                "message": "Dependency t1 raised ExpectedException('Task expected to fail')",
            },
        ),
        _task(
            "e0.0.0",
            "conftasks.log_error",
            result=f"conftasks.fail[{UUIDS['t1']}] raised ExpectedException: Task expected to fail",
        ),
    ],
}


def test_a_correct_document_passes() -> None:
    verify(case(25), Observed(CASE_25))


def _broken(change: str) -> dict[str, Any]:
    document = copy.deepcopy(CASE_25)
    tasks = document["tasks"]
    if change == "pending":
        tasks[4]["state"] = "PENDING"
    elif change == "errback twice":
        tasks.append(_task("e0.0.1", "conftasks.log_error", result=tasks[5]["result"]))
    elif change == "wrong culprit":
        document["error"]["taskId"] = "t3"
    elif change == "chord error names index 3":
        tasks[4]["error"]["message"] = "Dependency t3 raised ExpectedException('Task expected to fail')"
    elif change == "body ran":
        tasks[4]["attempts"] = 1
    elif change == "succeeded":
        document["phase"] = "Succeeded"
    return document


@pytest.mark.parametrize(
    "change",
    ["pending", "errback twice", "wrong culprit", "chord error names index 3", "body ran", "succeeded"],
)
def test_a_document_breaking_the_contract_fails(change: str) -> None:
    with pytest.raises(AssertionError):
        verify(case(25), Observed(_broken(change)))


def test_countdown_is_measured_from_the_workflow_start() -> None:
    document = {
        "name": "case-29",
        "phase": "Succeeded",
        "result": 2,
        "error": None,
        "tasks": [_task("t0", "conftasks.add", result=2, startedAt="2030-01-01T00:00:03.000Z")],
    }
    start = 1893456000.0  # 2030-01-01T00:00:00Z
    verify(case(29), Observed(document, start))
    with pytest.raises(AssertionError, match="countdown is 3s"):
        verify(case(29), Observed(document, start + 0.5))
