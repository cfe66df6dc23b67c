"""A warm runner's view of the store: take the pool's next attempt, drop it when done.

The queue is reliable in the way Redis' own documentation describes (BLMOVE into a list
of one's own): an attempt is always either in its pool's queue or in one runner's hands
(`run:held:<runner>`) until its outcome is written, so a runner that dies holding one
leaves it where the operator finds it and fails it as lost (retried per its policy),
and none is run twice. Synchronous, on the minimal client in `wire`, as the task side.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubecanvas.engine.states import Phase, TaskRecord
from kubecanvas.errors import StoreReplyError
from kubecanvas.store.layout import RunItem, WorkflowKeys, decode
from kubecanvas.store.wire import Connection

__all__ = ["RunnerQueue"]

BLOCK_SECONDS = 2  # one BLMOVE's wait: well under the client's socket timeout (10 s)


@dataclass
class RunnerQueue:
    client: Connection
    workflow_uid: str
    pool: str
    runner: str

    @property
    def keys(self) -> WorkflowKeys:
        return WorkflowKeys(self.workflow_uid)

    def take(self, wait: float) -> RunItem | None:
        """The next attempt, waiting up to `wait` seconds (at most `BLOCK_SECONDS`) for one.

        What this runner already holds comes first: a BLMOVE whose reply was lost (the
        connection broke, the client sent it again) moved an attempt here all the same."""
        held = self.keys.runner_held(self.runner)
        text = self.client.execute("LINDEX", held, 0)
        if text is None and wait > 0:
            queue = self.keys.runner_queue(self.pool)
            seconds = f"{min(wait, BLOCK_SECONDS):.3f}"
            text = self.client.execute("BLMOVE", queue, held, "LEFT", "RIGHT", seconds)
        if text is None:
            return None
        assert isinstance(text, str)
        return RunItem.from_text(text)

    def done(self, item: RunItem) -> None:
        """Drop it: its outcome is written (or it was not to run)."""
        self.client.execute("LREM", self.keys.runner_held(self.runner), 1, item.to_text())

    def look(self, item: RunItem) -> tuple[str | None, str]:
        """Why the attempt must not run now (killed, or not the attempt the operator waits
        for any more; None: it is to run), and its task's name, read from the workflow's
        nodes (which only the operator writes), never from the queue."""
        replies = self.client.pipeline(
            [
                ("HGET", self.keys.records, item.task_id),
                ("HGET", self.keys.nodes, item.task_id),
                ("HGET", self.keys.kills, item.field),
            ]
        )
        refused = next((reply for reply in replies if isinstance(reply, StoreReplyError)), None)
        if refused is not None:
            raise refused
        raw_record, raw_node, killed = replies
        if not (isinstance(raw_record, str) and isinstance(raw_node, str)):
            return "its workflow has no such task (deleted?)", ""
        node = decode(raw_node)
        task = str(node.get("task") or "") if isinstance(node, dict) else ""
        if killed is not None:
            return f"killed ({killed})", task
        record = TaskRecord.from_json(decode(raw_record))
        if record.terminal or record.attempt != item.attempt:
            state = f"{record.state.value}, attempt {record.attempt}"
            return f"the workflow no longer waits for it ({state})", task
        return None, task

    def workflow_over(self) -> bool:
        """Whether the workflow has finished (or its state is gone): no more work will come."""
        phase = self.client.execute("HGET", self.keys.meta, "phase")
        return phase is None or (isinstance(phase, str) and phase in {p.value for p in Phase if p.finished})

    def killed(self, item: RunItem) -> str | None:
        """Why the operator wants it stopped, if it does."""
        reason = self.client.execute("HGET", self.keys.kills, item.field)
        return None if reason is None else str(reason)
