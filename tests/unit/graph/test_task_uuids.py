"""A task's own id: a UUID made of its workflow's uid and its graph index, so that it is
unique to the run, the same for every attempt, and leads back to the task."""

from __future__ import annotations

import uuid

import pytest

from kubecanvas.graph.identity import task_index, task_uuid, workflow_matches

UID = "3f2a1c9e-7b4d-4e21-9a0c-5d6e7f809a1b"


def test_a_task_id_is_its_workflows_uid_with_its_index_in_the_last_digits() -> None:
    assert task_uuid(UID, 5) == "3f2a1c9e-7b4d-4e21-9a0c-5d6e00000005"
    assert uuid.UUID(task_uuid(UID, 5)).version == 4, "still a version-4 UUID, as Celery's ids"
    assert task_index(task_uuid(UID, 70_000)) == 70_000


def test_two_runs_give_two_ids_and_one_run_always_the_same() -> None:
    other = str(uuid.uuid4())
    assert task_uuid(UID, 0) != task_uuid(other, 0)
    assert task_uuid(UID, 0) == task_uuid(UID, 0)
    assert len({task_uuid(UID, index) for index in range(1000)}) == 1000


def test_an_id_leads_back_to_its_workflow_only() -> None:
    assert workflow_matches(task_uuid(UID, 3), UID)
    assert not workflow_matches(task_uuid(UID, 3), str(uuid.uuid4()))
    assert not workflow_matches("t3", UID)
    assert task_index("wf-x2k/t3") is None


def test_a_uid_that_is_not_a_uuid_still_gives_uuids() -> None:
    made = task_uuid("local-run", 2)
    assert task_index(made) == 2
    assert workflow_matches(made, "local-run")


def test_an_index_outside_32_bits_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 4294967295"):
        task_uuid(UID, 1 << 32)
