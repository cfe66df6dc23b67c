"""Celery's task states, read off a view of one workflow.

What "ready" means: the value of a whole workflow is ready when every task it is made of
succeeded (a `link` callback may still be running), or when the workflow finished; the
value of one task when the task finished.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubecanvas.engine.states import Phase, TaskRecord, TaskState
from kubecanvas.errors import ResultExpiredError
from kubecanvas.graph.nodes import Ref, ref_node_ids

__all__ = ["READY_STATES", "View", "celery_state"]

READY_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})
_FINISHED_STATES = {Phase.SUCCEEDED: "SUCCESS", Phase.FAILED: "FAILURE", Phase.REVOKED: "REVOKED"}


@dataclass(slots=True)
class View:
    """What the results of one workflow are computed from, read in one go."""

    phase: Phase | None  # None: Redis has no state for it (not started yet, or expired)
    records: dict[str, TaskRecord]
    status: Mapping[str, Any] = field(default_factory=dict)  # the Workflow's status, when phase is None


def celery_state(view: View, ref: Ref, top: bool) -> str:
    """The state of the results `ref` names: of the whole workflow (`top`) or of its tasks."""
    if view.phase is None:
        phase = view.status.get("phase")
        finished = {phase.value: state for phase, state in _FINISHED_STATES.items()}
        if phase in finished:
            if top:
                return finished[str(phase)]
            raise ResultExpiredError(
                "the task states of this workflow are no longer in Redis "
                "(they expire after spec.ttlSecondsAfterFinished)"
            )
        return "PENDING"
    records = [view.records.get(node_id) or TaskRecord() for node_id in ref_node_ids(ref)]
    if all(record.state == TaskState.SUCCESS for record in records):
        return "SUCCESS"
    if top and view.phase.finished:
        return _FINISHED_STATES[view.phase]
    if not top and all(record.terminal for record in records):
        first = next(record for record in records if record.unsuccessful)
        return first.state.value
    states = {record.state for record in records}
    for state in (TaskState.STARTED, TaskState.RETRY):
        if state in states:
            return state.value
    return "PENDING"
