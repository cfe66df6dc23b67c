"""A task's own id (Celery's task id, `self.request.id`): unique everywhere, and findable.

Inside the graph a task is `t0`, `t1`, ... (`TaskNode.id`): short, readable, and the
same in every run of the same spec, which is what the engine, the store and
`kubecanvas get` key on. A Celery program needs more of `self.request.id`: it must differ
between runs (the user guide's errback writes `/var/errors/<request.id>`), stay the same
through the retries of one task, and lead back to the task (`AsyncResult(id)`).

So a task's id is its workflow's uid (a Kubernetes uid is a random UUID) with its last
32 bits replaced by the task's index in the graph:

    workflow uid  3f2a1c9e-7b4d-4e21-9a0c-5d6e7f809a1b
    task t5       3f2a1c9e-7b4d-4e21-9a0c-5d6e00000005

It is still a version-4 UUID (the version and variant bits are in the kept part), it is
computed from what every process already holds (no store to write, nothing to
clean up), and the 96 bits it keeps of the uid are enough to find the workflow again
among those of a namespace (`workflow_matches`).

A task may also be given its id, as with Celery's `task_id=` (`options.taskId`): then that
is its id everywhere (`own_task_id`), and finding it means looking for it in the specs
(`names_task_id`); the compiler refuses two tasks of one Workflow with the same id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from kubecanvas._kits.jsonvalues import JSON
from kubecanvas.graph.nodes import TaskNode

__all__ = [
    "given_task_id",
    "names_task_id",
    "node_with_id",
    "own_task_id",
    "task_index",
    "task_uuid",
    "workflow_matches",
]

_GIVEN = "taskId"  # the option that gives a task its id (TaskOptions.task_id)

_INDEX_BITS = 32
_INDEX_MASK = (1 << _INDEX_BITS) - 1
_NAMESPACE = uuid.UUID("6c1f3f0e-7d3a-4c55-9b7e-1b6c0a4e2f10")
"""For a workflow uid that is not a UUID (tests, hand-made runs): hashed into one first."""


def _uid_bits(workflow_uid: str) -> int:
    try:
        return uuid.UUID(workflow_uid).int
    except ValueError:
        return uuid.uuid5(_NAMESPACE, workflow_uid).int


def task_uuid(workflow_uid: str, index: int) -> str:
    """The id of the task with graph index `index` in the workflow with uid `workflow_uid`."""
    if not 0 <= index <= _INDEX_MASK:
        raise ValueError(f"a task index is between 0 and {_INDEX_MASK}, not {index}")
    return str(uuid.UUID(int=(_uid_bits(workflow_uid) & ~_INDEX_MASK) | index))


def task_index(task_id: str) -> int | None:
    """The graph index a task id carries, or None if `task_id` is not a UUID."""
    try:
        return uuid.UUID(task_id).int & _INDEX_MASK
    except ValueError:
        return None


def workflow_matches(task_id: str, workflow_uid: str) -> bool:
    """Whether `task_id` is the id of a task of the workflow with uid `workflow_uid`."""
    try:
        bits = uuid.UUID(task_id).int
    except ValueError:
        return False
    return bits & ~_INDEX_MASK == _uid_bits(workflow_uid) & ~_INDEX_MASK


def given_task_id(node: TaskNode) -> str | None:
    """The id the task's options give it (Celery's `task_id=`), if any."""
    given = node.options.get(_GIVEN)
    return given if isinstance(given, str) else None


def own_task_id(workflow_uid: str, node: TaskNode) -> str:
    """The id of the task `node` in the run `workflow_uid`: the one its options give, else
    the one made from the uid (`task_uuid`). What `self.request.id` and results say."""
    return given_task_id(node) or task_uuid(workflow_uid, node.index)


def node_with_id(nodes: Iterable[TaskNode], workflow_uid: str, task_id: str) -> TaskNode | None:
    """The task of the run `workflow_uid` whose id (`own_task_id`) is `task_id`, if any."""
    return next((node for node in nodes if own_task_id(workflow_uid, node) == task_id), None)


def names_task_id(canvas: JSON, task_id: str) -> bool:
    """Whether a raw canvas (a Workflow's `spec.canvas`, unvalidated) gives some task the id
    `task_id`: how a Workflow is found by a given id without compiling every candidate."""
    stack: list[JSON] = [canvas]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            options = value.get("options")
            if isinstance(options, dict) and options.get(_GIVEN) == task_id:
                return True
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False
