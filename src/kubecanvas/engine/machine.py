"""The engine: a pure state machine that runs a task graph.

It does no I/O and reads no clock. Its host (the operator, the local runner) feeds it
what happened, as one of the events of `kubecanvas.engine.events` (a task started,
succeeded, failed, asked for a retry, was lost or expired; the user revoked; time
passed), through one door, `Engine.feed`, and gets back a `Step`: which records
changed, which attempts to launch or kill, and when to call again. Both hosts use
this one implementation of the contract's error rules (section 4):

- a task whose dependency did not succeed never runs and never stays PENDING: it
  ends REVOKED, or, if it joins several branches (a chord body), FAILURE with a
  ChordError naming the lowest-index failure, once every branch has finished;
- an errback runs once per failed unit (per member for a group, once for a task,
  chain or chord), for the unit's root cause;
- retries follow the task's rule, with backoff, jitter and autoretryFor;
- countdown, eta and expires hold a ready task back or revoke it;
- at most `parallelism` attempts are launched at once.

Work per event is proportional to the tasks it touches, so that a 10,000-task
workflow costs no more per step than a 10-task one.
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kubecanvas._kits.jsonvalues import JSONObject
from kubecanvas._kits.timestamps import from_rfc3339
from kubecanvas.engine.effects import Kill, Launch, Notice, Step
from kubecanvas.engine.events import (
    Event,
    Expired,
    Failed,
    RetryRequested,
    Revoke,
    Start,
    Started,
    Succeeded,
    Tick,
)
from kubecanvas.engine.retries import retry_rule
from kubecanvas.engine.states import TERMINAL, Phase, TaskFailure, TaskRecord, TaskState
from kubecanvas.errors import ChordError, MaxRetriesExceededError, Retry, TaskRevokedError
from kubecanvas.graph.errback_units import errback_node_id, instantiate_errback
from kubecanvas.graph.nodes import Graph, TaskNode, ref_node_ids

__all__ = ["Engine", "WorkflowError"]


@dataclass(frozen=True, slots=True)
class WorkflowError:
    """The root cause of a failed workflow: the first failure in canvas order."""

    task: str
    task_id: str
    type: str
    message: str

    def to_json(self) -> JSONObject:
        return {"task": self.task, "taskId": self.task_id, "type": self.type, "message": self.message}


@dataclass(slots=True)
class _Unit:
    """The nodes of one errback unit and how many of them have not finished."""

    attachment: int
    index: int
    nodes: tuple[str, ...]
    remaining: int
    fired: bool


class Engine:
    def __init__(
        self,
        graph: Graph,
        *,
        parallelism: int = 50,
        records: Mapping[str, TaskRecord] | None = None,
        extra_nodes: Iterable[TaskNode] = (),
        phase: Phase = Phase.PENDING,
        started_at: float | None = None,
        finished_at: float | None = None,
    ) -> None:
        """A fresh engine for `graph`, or one resumed from persisted `records`,
        errback `extra_nodes` and workflow `phase`."""
        self.graph = graph
        self.parallelism = parallelism
        self.phase = phase
        self.started_at = started_at
        self.finished_at = finished_at
        self.nodes: dict[str, TaskNode] = {node.id: node for node in graph.nodes}
        self.nodes.update((node.id, node) for node in extra_nodes)
        records = records or {}
        self.records: dict[str, TaskRecord] = {
            node_id: records.get(node_id) or TaskRecord() for node_id in self.nodes
        }
        self._dependents: dict[str, list[str]] = {}
        self._unmet: dict[str, int] = {}  # dependencies not (yet) SUCCESS
        self._unsettled: dict[str, int] = {}  # dependencies not (yet) finished
        self._blocked: set[str] = set()  # waiting nodes with an unsuccessful dependency
        self._queued: list[tuple[int, int, str]] = []  # (-priority, index, id): due, awaiting a slot
        self._delayed: list[tuple[float, int, str]] = []  # (not_before, index, id)
        self._expiring: list[tuple[float, int, str]] = []  # (expires_at, index, id)
        self._settled: deque[str] = deque()  # finished nodes whose news has not spread yet
        self._running = 0
        self._counts: Counter[TaskState] = Counter()
        self._units: list[_Unit] = []
        self._units_of: dict[str, list[_Unit]] = {}
        # The lowest-index task that failed on its own, main line (False) and link callbacks (True):
        # `error()` answers in O(1) however often a status is written.
        self._culprits: dict[bool, tuple[int, str]] = {}
        # Errback runs get indices reserved by attachment and unit, not by when they fire,
        # so that two runs of one workflow list their tasks in the same order.
        self._errback_base: list[int] = []
        next_free = 1 + max((node.index for node in graph.nodes), default=-1)
        for attachment in graph.errbacks:
            self._errback_base.append(next_free)
            next_free += len(attachment.template) * len(attachment.units)
        self._step = Step()
        self._rebuild()

    # ----------------------------------------------------------------- queries

    @property
    def total(self) -> int:
        return len(self.nodes)

    @property
    def in_flight(self) -> int:
        """Attempts launched and not finished: what `parallelism` bounds."""
        return self._running

    @property
    def finished_count(self) -> int:
        return sum(self._counts[state] for state in TERMINAL)

    def counts(self) -> dict[str, int]:
        return {state.value: self._counts[state] for state in TaskState if self._counts[state]}

    def ordered_nodes(self) -> list[TaskNode]:
        return sorted(self.nodes.values(), key=lambda node: node.index)

    def result_ready(self) -> bool:
        """Whether every task the workflow's result is made of has succeeded."""
        return all(
            self.records[node_id].state == TaskState.SUCCESS for node_id in ref_node_ids(self.graph.result)
        )

    def error(self) -> WorkflowError | None:
        """The root cause, as Celery's `res.get()` would raise it: the first task in
        canvas order that failed on its own (not a ChordError, not an errback). A failed
        `link` callback is named only when no main-line task failed: `res.get()` never
        raises a side branch's error."""
        found = self._culprits.get(False) or self._culprits.get(True)
        if found is None:
            return None
        culprit = self.nodes[found[1]]
        failure = self.records[culprit.id].error or TaskFailure("Error", "")
        return WorkflowError(culprit.task, culprit.id, failure.type, failure.message)

    # ----------------------------------------------------------------- events

    def feed(self, event: Event) -> Step:
        """Tell the engine what happened; what to do about it comes back as one `Step`.

        The only way in: every host speaks the vocabulary of `kubecanvas.engine.events`."""
        match event:
            case Started(task_id, attempt, at):
                return self._on_started(task_id, attempt, at)
            case Succeeded(task_id, attempt, at):
                return self._on_succeeded(task_id, attempt, at)
            case Failed(task_id, attempt, error, at, task_rule, lost):
                return self._on_failed(task_id, attempt, error, at, task_rule=task_rule, lost=lost)
            case RetryRequested(task_id, attempt, at, countdown, max_retries, error, task_rule):
                return self._on_retry_requested(
                    task_id,
                    attempt,
                    at,
                    countdown=countdown,
                    max_retries=max_retries,
                    error=error,
                    task_rule=task_rule,
                )
            case Expired(task_id, attempt, at):
                return self._on_expired(task_id, attempt, at)
            case Start(at):
                return self._on_start(at)
            case Tick(at):
                return self._advance(at)
            case Revoke(at):
                return self._on_revoke(at)
        raise TypeError(f"not an engine event: {event!r}")

    def _on_start(self, now: float) -> Step:
        """Begin: make the tasks with no dependencies ready. Harmless to repeat."""
        if self.phase == Phase.PENDING:
            self.phase = Phase.RUNNING
            self.started_at = now
            self._step.phase_changed = True
            for node in self.ordered_nodes():
                record = self.records[node.id]
                if record.state == TaskState.PENDING and not self._unmet[node.id] and record.ready_at is None:
                    self._make_ready(node.id, now)
        return self._advance(now)

    def _on_started(self, task_id: str, attempt: int, now: float) -> Step:
        record = self._in_flight(task_id, attempt)
        if record is not None and record.state in (TaskState.PENDING, TaskState.RETRY):
            self._set_state(task_id, TaskState.STARTED)
            if record.started_at is None:  # the first attempt's start (0.0 is a time too)
                record.started_at = now
        return self._advance(now)

    def _on_succeeded(self, task_id: str, attempt: int, now: float) -> Step:
        if self._in_flight(task_id, attempt) is not None:
            self._finish(task_id, TaskState.SUCCESS, now)
        return self._advance(now)

    def _on_failed(
        self,
        task_id: str,
        attempt: int,
        error: TaskFailure,
        now: float,
        *,
        task_rule: JSONObject | None = None,
        lost: bool = False,
    ) -> Step:
        """An attempt raised (or, with `lost`, its pod died without a word).

        Retried when the rule is automatic, retries are left, and the exception is
        one `autoretryFor` names (a lost pod is always eligible)."""
        record = self._in_flight(task_id, attempt)
        if record is None:
            return self._advance(now)
        node = self.nodes[task_id]
        rule = retry_rule(node.options.get("retries"), task_rule)
        if rule.retries(error, attempt, lost=lost):
            self._retry(task_id, error, rule.countdown(attempt, task_id), rule.max, now)
        else:
            self._finish(task_id, TaskState.FAILURE, now, error=error)
            self._notice(
                "failure", task_id, f"{self._name(task_id)} failed: {error.describe()}", warning=True
            )
        return self._advance(now)

    def _on_retry_requested(
        self,
        task_id: str,
        attempt: int,
        now: float,
        *,
        countdown: float | None = None,
        max_retries: int | None = None,
        error: TaskFailure | None = None,
        task_rule: JSONObject | None = None,
    ) -> Step:
        """The task called `self.retry()`."""
        record = self._in_flight(task_id, attempt)
        if record is None:
            return self._advance(now)
        rule = retry_rule(self.nodes[task_id].options.get("retries"), task_rule)
        limit = rule.max if max_retries is None else max_retries
        if attempt - 1 < limit:
            delay = rule.countdown(attempt, task_id) if countdown is None else countdown
            self._retry(task_id, error or TaskFailure(Retry.__name__, "retry requested"), delay, limit, now)
        else:
            node = self.nodes[task_id]
            # `self.retry(exc=e)` fails with e; a bare `self.retry()` with Celery's error.
            failure = (
                error
                if error is not None and error.type != Retry.__name__
                else TaskFailure.of(
                    MaxRetriesExceededError,
                    f"Can't retry {node.task}[{task_id}] args:{list(node.args)} kwargs:{node.kwargs}",
                )
            )
            self._finish(task_id, TaskState.FAILURE, now, error=failure)
            self._notice(
                "failure", task_id, f"{self._name(task_id)} failed: {failure.describe()}", warning=True
            )
        return self._advance(now)

    def _on_expired(self, task_id: str, attempt: int, now: float) -> Step:
        """The runtime found the attempt's `expires` had passed before it started."""
        if self._in_flight(task_id, attempt) is not None:
            self._expire(task_id, now)
        return self._advance(now)

    def _on_revoke(self, now: float) -> Step:
        """Cancel the workflow: nothing new starts, running attempts are killed."""
        if self.phase.finished:
            return self._advance(now)
        self.phase = Phase.REVOKED
        self.finished_at = now
        self._step.phase_changed = True
        for node in self.ordered_nodes():
            record = self.records[node.id]
            if not record.terminal:
                if record.launched:
                    self._step.kills.append(Kill(node.id, record.attempt, "revoked"))
                self._finish(node.id, TaskState.REVOKED, now, reason="revoked")
        self._notice("finished", None, "workflow revoked")
        return self._advance(now)

    # ----------------------------------------------------------------- internals

    def _rebuild(self) -> None:
        """Derive every index from the nodes and their records (fresh or resumed)."""
        for node in self.ordered_nodes():
            for dependency in node.deps:
                self._dependents.setdefault(dependency, []).append(node.id)
        for node in self.ordered_nodes():
            record = self.records[node.id]
            self._counts[record.state] += 1
            if record.terminal:
                self._note_culprit(node.id)
                continue
            dependencies = [self.records[dependency] for dependency in node.deps]
            self._unmet[node.id] = sum(dep.state != TaskState.SUCCESS for dep in dependencies)
            self._unsettled[node.id] = sum(not dep.terminal for dep in dependencies)
            if any(dep.unsuccessful for dep in dependencies):
                self._blocked.add(node.id)
            if record.launched:
                self._running += 1
                if record.expires_at is not None and record.state != TaskState.STARTED:
                    heapq.heappush(self._expiring, (record.expires_at, node.index, node.id))
            elif record.ready_at is not None:
                self._enqueue(node.id)
        for position, attachment in enumerate(self.graph.errbacks):
            for unit_index, unit_nodes in enumerate(attachment.units):
                first = attachment.template[0].id if attachment.template else "0"
                unit = _Unit(
                    attachment=position,
                    index=unit_index,
                    nodes=unit_nodes,
                    remaining=sum(not self.records[node_id].terminal for node_id in unit_nodes),
                    fired=errback_node_id(attachment, unit_index, first) in self.nodes,
                )
                self._units.append(unit)
                for node_id in unit_nodes:
                    self._units_of.setdefault(node_id, []).append(unit)
        # News that did not spread before a crash (the host persists whole steps, so
        # normally there is none): waiting nodes whose dependencies have all finished.
        for node_id in list(self._blocked):
            if self._unsettled[node_id] == 0:
                self._resolve_blocked(node_id, self.finished_at or self.started_at or 0.0)

    def _in_flight(self, task_id: str, attempt: int) -> TaskRecord | None:
        """The record, if this news is about the attempt in flight (not stale)."""
        record = self.records.get(task_id)
        if record is None or record.terminal or not record.launched or record.attempt != attempt:
            return None
        return record

    def _set_state(self, task_id: str, state: TaskState) -> None:
        record = self.records[task_id]
        self._counts[record.state] -= 1
        self._counts[state] += 1
        record.state = state
        self._step.changed.add(task_id)

    def _make_ready(self, task_id: str, now: float) -> None:
        """All dependencies succeeded: apply countdown/eta/expires and queue it."""
        node, record = self.nodes[task_id], self.records[task_id]
        record.ready_at = now
        options = node.options
        eta, countdown, expires = options.get("eta"), options.get("countdown"), options.get("expires")
        if isinstance(eta, str):
            record.not_before = from_rfc3339(eta)
        elif isinstance(countdown, int | float) and countdown > 0:
            record.not_before = now + countdown
        if isinstance(expires, int | float):
            record.expires_at = now + expires
        elif isinstance(expires, str):
            record.expires_at = from_rfc3339(expires)
        self._step.changed.add(task_id)
        self._enqueue(task_id)

    def _enqueue(self, task_id: str) -> None:
        node, record = self.nodes[task_id], self.records[task_id]
        if record.not_before is not None:
            heapq.heappush(self._delayed, (record.not_before, node.index, task_id))
        else:
            priority = node.options.get("priority")
            heapq.heappush(
                self._queued, (-int(priority) if isinstance(priority, int) else 0, node.index, task_id)
            )
        if record.expires_at is not None:
            heapq.heappush(self._expiring, (record.expires_at, node.index, task_id))

    def _waiting_to_launch(self, task_id: str) -> bool:
        record = self.records[task_id]
        return not record.terminal and not record.launched and record.ready_at is not None

    def _may_expire(self, task_id: str) -> bool:
        """`expires` only stops a task that has not started (or is waiting for a retry)."""
        record = self.records[task_id]
        return not record.terminal and record.state != TaskState.STARTED

    def _advance(self, now: float) -> Step:
        """Spread news, move due tasks forward, launch what fits, and hand back the step."""
        self._spread(now)
        while self._delayed and self._delayed[0][0] <= now:
            _, _, task_id = heapq.heappop(self._delayed)
            record = self.records[task_id]
            if (
                self._waiting_to_launch(task_id)
                and record.not_before is not None
                and record.not_before <= now
            ):
                record.not_before = None
                self._step.changed.add(task_id)
                self._enqueue(task_id)
        while self._expiring and self._expiring[0][0] <= now:
            _, _, task_id = heapq.heappop(self._expiring)
            if self._may_expire(task_id):
                self._expire(task_id, now)
        self._spread(now)
        while self.phase == Phase.RUNNING and self._queued and self._running < self.parallelism:
            _, _, task_id = heapq.heappop(self._queued)
            record = self.records[task_id]
            if self._waiting_to_launch(task_id) and record.not_before is None:
                record.attempt += 1
                record.launched = True
                self._running += 1
                self._step.changed.add(task_id)
                self._step.launches.append(Launch(self.nodes[task_id], record.attempt))
        if self.phase == Phase.RUNNING and self.finished_count == self.total:
            self._complete(now)
        step, self._step = self._step, Step()
        step.wake_at = self._wake_at()
        return step

    def _wake_at(self) -> float | None:
        while self._delayed and not self._waiting_to_launch(self._delayed[0][2]):
            heapq.heappop(self._delayed)
        while self._expiring and not self._may_expire(self._expiring[0][2]):
            heapq.heappop(self._expiring)  # a retry pushes a fresh entry, so dropping is safe
        times = [heap[0][0] for heap in (self._delayed, self._expiring) if heap]
        return min(times) if times and not self.phase.finished else None

    def _retry(self, task_id: str, error: TaskFailure, countdown: float, limit: int, now: float) -> None:
        record = self.records[task_id]
        self._set_state(task_id, TaskState.RETRY)
        record.launched = False
        self._running -= 1
        record.error = error
        record.not_before = now + countdown
        self._enqueue(task_id)
        self._notice(
            "retry",
            task_id,
            f"{self._name(task_id)} attempt {record.attempt} failed ({error.describe()}); "
            f"retry {record.attempt} of {limit} in {countdown:.3g}s",
            warning=True,
        )

    def _expire(self, task_id: str, now: float) -> None:
        record = self.records[task_id]
        if record.launched:
            self._step.kills.append(Kill(task_id, record.attempt, "expired"))
        failure = TaskFailure.of(TaskRevokedError, "expired")
        self._finish(task_id, TaskState.REVOKED, now, error=failure, reason="expired")
        self._notice("failure", task_id, f"{self._name(task_id)} expired before it started", warning=True)

    def _finish(
        self,
        task_id: str,
        state: TaskState,
        now: float,
        *,
        error: TaskFailure | None = None,
        reason: str | None = None,
        cause: str | None = None,
    ) -> None:
        """Make a task terminal; its dependents hear of it in `_spread`."""
        record = self.records[task_id]
        if record.launched:
            record.launched = False
            self._running -= 1
        self._set_state(task_id, state)
        record.finished_at = now
        record.not_before = None
        if error is not None:
            record.error = error
        elif state == TaskState.SUCCESS:
            record.error = None
        record.reason, record.cause = reason, cause
        self._note_culprit(task_id)
        self._blocked.discard(task_id)
        self._settled.append(task_id)

    def _note_culprit(self, task_id: str) -> None:
        node = self.nodes[task_id]
        if node.role == "errback" or not self.records[task_id].failed_on_its_own:
            return
        side = node.role == "callback"
        current = self._culprits.get(side)
        if current is None or node.index < current[0]:
            self._culprits[side] = (node.index, task_id)

    def _spread(self, now: float) -> None:
        """Tell dependents and errback units about finished tasks, transitively."""
        while self._settled:
            task_id = self._settled.popleft()
            succeeded = self.records[task_id].state == TaskState.SUCCESS
            for dependent in self._dependents.get(task_id, ()):
                record = self.records[dependent]
                if record.terminal:
                    continue
                self._unsettled[dependent] -= 1
                if succeeded:
                    self._unmet[dependent] -= 1
                    if not self._unmet[dependent] and dependent not in self._blocked:
                        self._make_ready(dependent, now)
                    elif dependent in self._blocked and not self._unsettled[dependent]:
                        self._resolve_blocked(dependent, now)
                else:
                    self._blocked.add(dependent)
                    if not self.nodes[dependent].join or not self._unsettled[dependent]:
                        self._resolve_blocked(dependent, now)
            for unit in self._units_of.get(task_id, ()):
                unit.remaining -= 1
                if not unit.remaining:
                    self._settle_unit(unit, now)

    def _resolve_blocked(self, task_id: str, now: float) -> None:
        """A task that can no longer run. One that joins branches fails with a
        ChordError naming its lowest failed branch; any other is revoked."""
        node = self.nodes[task_id]
        failed_dependency = min(
            (dep for dep in node.deps if self.records[dep].unsuccessful),
            key=lambda dep: self.nodes[dep].index,
        )
        cause = self._root_cause(failed_dependency)
        failure = self.records[cause].error or TaskFailure("Error", "")
        if node.join:
            chord_error = TaskFailure.of(
                ChordError, f"Dependency {cause} raised {failure.type}({failure.message!r})"
            )
            self._finish(task_id, TaskState.FAILURE, now, error=chord_error, reason="chord", cause=cause)
        else:
            upstream = TaskFailure.of(
                TaskRevokedError, f"not run: {cause} ({self.nodes[cause].task}) failed with {failure.type}"
            )
            self._finish(task_id, TaskState.REVOKED, now, error=upstream, reason="upstream", cause=cause)

    def _index(self, task_id: str) -> int:
        return self.nodes[task_id].index

    def _root_cause(self, task_id: str) -> str:
        record = self.records[task_id]
        if record.failed_on_its_own or record.cause is None:
            return task_id
        return record.cause

    def _settle_unit(self, unit: _Unit, now: float) -> None:
        """A unit finished: if one of its tasks failed, on its own or as a chord body whose
        header failed (Celery runs a body's own errback then), run the errback once, for the
        root cause."""
        if unit.fired or self.phase != Phase.RUNNING:
            return
        culprits = [node_id for node_id in unit.nodes if self.records[node_id].failed_on_its_own]
        joins = [node_id for node_id in unit.nodes if self.records[node_id].reason == "chord"]
        if culprits:
            root = min(culprits, key=self._index)
        elif joins:
            root = self._root_cause(min(joins, key=self._index))
        else:
            return
        unit.fired = True
        attachment = self.graph.errbacks[unit.attachment]
        first_index = self._errback_base[unit.attachment] + unit.index * len(attachment.template)
        new_nodes = instantiate_errback(attachment, unit.index, root, first_index)
        if not new_nodes:
            return  # an empty errback canvas (graphs compiled before the compiler dropped them)
        for node in new_nodes:
            self.nodes[node.id] = node
            self.records[node.id] = TaskRecord()
            self._counts[TaskState.PENDING] += 1
            self._unmet[node.id] = self._unsettled[node.id] = len(node.deps)
            for dependency in node.deps:
                self._dependents.setdefault(dependency, []).append(node.id)
        self._step.new_nodes.extend(new_nodes)
        for node in new_nodes:
            self._step.changed.add(node.id)
            if not node.deps:
                self._make_ready(node.id, now)
        self._notice("errback", root, f"errback {new_nodes[0].task} called for {self._name(root)}")

    def _complete(self, now: float) -> None:
        error = self.error()
        self.phase = Phase.FAILED if error else Phase.SUCCEEDED
        self.finished_at = now
        self._step.phase_changed = True
        if error:
            message = f"workflow failed: {error.task} [{error.task_id}] raised {error.type}: {error.message}"
            self._notice("finished", error.task_id, message, warning=True)
        else:
            self._notice("finished", None, f"workflow succeeded ({self.total} tasks)")

    def _notice(self, kind: str, task_id: str | None, message: str, *, warning: bool = False) -> None:
        self._step.notices.append(Notice(kind, task_id, message, warning))  # type: ignore[arg-type]

    def _name(self, task_id: str) -> str:
        return f"{self.nodes[task_id].task}[{task_id}]"
