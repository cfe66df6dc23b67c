"""A deterministic, in-process driver for the engine: no cluster, no processes, no real clock.

It is the operator's own host loop (`kubecanvas.hosting.WorkflowHost`) with a scripted
launcher and a virtual clock: it takes the launches and kills of *every* step the engine
returns, is woken at `wake_at`, and reports what each attempt did. Task code is a dict of Python
callables keyed by task name, optionally overridden per task id and attempt by a
*script* of outcomes; completion order is chosen by `order`, so a test can check that
results do not depend on it.

    from support.simulation import Raise, chain, sig, simulate

    run = simulate(chain(sig("add", 1, 1), sig("mul", 3)))  # or the YAML's dicts
    assert run.result == 6 and run.phase == Phase.SUCCEEDED
    run = simulate(chain(sig("add", 1, 1), sig("mul", 3)), script={"t1": [Raise("ValueError", "x")]})

Outcomes of one attempt, for `script` (by task id; a list gives attempts 1, 2, ...,
and attempts past its end run the function; a callable takes the attempt number and
must not depend on anything else): `Succeed(value)`, `Raise(type, message)`,
`RetryRequest(countdown=, max_retries=, exc=)` (`self.retry()`), `Lost()` (the pod
died), `Expire()` (the runtime found `expires` passed), `Hang()` (only a kill ends
it). A function may also raise `kubecanvas.errors.Retry`; `current_attempt()` and
`current_task_id()` (and the KUBECANVAS_* variables) tell it which attempt runs.
Errback nodes get the failed task's id as first argument.

Time model: an attempt launched at `t` starts at `t + start_delay` (the engine hears
`started` then) and finishes `duration` seconds later (1 s unless told otherwise).
Events due at the same moment run in `order`: `"canvas"` (lowest node index first),
`"reverse"`, `"fifo"` (launch order) or `"random"` (seeded; durations are randomised
too), or a callable giving a sort key. `wake_at` is honoured before completions due at
the same moment.

Resume: with `resume_after`, after the chosen engine calls the driver persists the
engine the way the operator does (records through `TaskRecord.to_json`, the graph and
errback nodes through their `to_json`, all through JSON text) and carries on with an
engine rebuilt from that. The driver fails loudly (`SimulationError`) when an attempt
is launched twice, when more attempts run than `parallelism` allows, or when the
engine's view of running attempts and the driver's disagree (that check is O(tasks)
per step: pass `check_invariants=False` for very large runs).
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import json
import os
import random
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeAlias

from kubecanvas._kits.jsonvalues import JSON, JSONObject, to_json_value
from kubecanvas.canvas.compiler import compile_spec
from kubecanvas.canvas.validation import parse_spec
from kubecanvas.engine import Engine, Kill, Launch, Phase, Step, TaskFailure, TaskRecord, TaskState
from kubecanvas.engine.events import Expired, Failed, RetryRequested, Revoke, Start, Started, Succeeded, Tick
from kubecanvas.engine.machine import WorkflowError
from kubecanvas.errors import NotJSONError, Retry, WorkerLostError
from kubecanvas.graph import Graph, TaskNode, build_call, materialize
from kubecanvas.graph.nodes import GraphJSON, TaskNodeJSON
from kubecanvas.hosting import EventMaker, WorkflowHost

__all__ = [
    "CONFTASKS",
    "Call",
    "ExpectedException",
    "Expire",
    "Hang",
    "Lost",
    "Outcome",
    "Raise",
    "RetryRequest",
    "Simulation",
    "SimulationError",
    "SimulationResult",
    "Succeed",
    "chain",
    "chord",
    "compile_canvas",
    "current_attempt",
    "current_task_id",
    "failure_of",
    "group",
    "sig",
    "simulate",
]


class SimulationError(AssertionError):
    """The engine broke a rule the host relies on (or the simulation could not finish)."""


# ------------------------------------------------------------------ outcomes of one attempt


@dataclass(frozen=True)
class Succeed:
    """The attempt returns `value` (it must be JSON, as for a real task)."""

    value: Any = None
    duration: float | None = None


@dataclass(frozen=True)
class Raise:
    """The attempt raises: `Raise("ValueError", "bad")`, or `Raise.of(SomeError("x"))`."""

    type: str = "ExpectedException"
    message: str = "Task expected to fail"
    types: tuple[str, ...] = ()
    module: str | None = None
    duration: float | None = None

    @classmethod
    def of(cls, error: BaseException, duration: float | None = None) -> Raise:
        failure = failure_of(error)
        return cls(failure.type, failure.message, failure.types, failure.module, duration)

    def failure(self) -> TaskFailure:
        types = self.types or (self.type, "Exception")
        return TaskFailure(self.type, self.message, module=self.module, types=types)


@dataclass(frozen=True)
class RetryRequest:
    """The task calls `self.retry(countdown=, max_retries=, exc=)`."""

    countdown: float | None = None
    max_retries: int | None = None
    exc: Raise | None = None
    duration: float | None = None


@dataclass(frozen=True)
class Lost:
    """The pod died without a word (OOM, eviction, deleted node)."""

    message: str = "pod lost"
    duration: float | None = None


@dataclass(frozen=True)
class Expire:
    """The runtime found the attempt's `expires` had passed when it started."""

    duration: float | None = 0.0


@dataclass(frozen=True)
class Hang:
    """The attempt never reports anything: only a kill (revoke, expiry) ends it."""

    duration: float | None = None


Outcome: TypeAlias = Succeed | Raise | RetryRequest | Lost | Expire | Hang
ScriptEntry: TypeAlias = Outcome | list[Outcome] | Callable[[int], Outcome]
Order: TypeAlias = Literal["canvas", "reverse", "fifo", "random"] | Callable[[TaskNode, int], Any]


# ------------------------------------------------------------------ what the tasks see

_CURRENT: contextvars.ContextVar[tuple[str, int]] = contextvars.ContextVar("kubecanvas_sim_current")


def current_task_id() -> str:
    """The id of the task being run (like `KUBECANVAS_TASK_ID`)."""
    return _CURRENT.get()[0]


def current_attempt() -> int:
    """The attempt being run, 1 for the first (like `KUBECANVAS_ATTEMPT`)."""
    return _CURRENT.get()[1]


@contextmanager
def _running_as(task_id: str, attempt: int) -> Iterator[None]:
    token = _CURRENT.set((task_id, attempt))
    saved = {name: os.environ.get(name) for name in ("KUBECANVAS_TASK_ID", "KUBECANVAS_ATTEMPT")}
    os.environ["KUBECANVAS_TASK_ID"], os.environ["KUBECANVAS_ATTEMPT"] = task_id, str(attempt)
    try:
        yield
    finally:
        _CURRENT.reset(token)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def failure_of(error: BaseException) -> TaskFailure:
    """An exception as the runtime reports it (without the traceback, which tests do not compare)."""
    return replace(TaskFailure.from_exception(error), traceback=None)


# ------------------------------------------------------------------ the contract's helper tasks


class ExpectedException(Exception):
    pass


def _fail(*args: Any) -> None:
    raise ExpectedException("Task expected to fail")


def _flaky(key: str, times: int) -> int:
    attempt = current_attempt()
    if attempt <= times:
        raise RuntimeError(f"flaky {key}: attempt {attempt} of the first {times} fails")
    return attempt


CONFTASKS: dict[str, Callable[..., Any]] = {
    "conftasks.add": lambda x, y, z=None: x + y if z is None else x + y + z,
    "conftasks.mul": lambda x, y: x * y,
    "conftasks.sub": lambda x, y: x - y,
    "conftasks.tsum": sum,
    "conftasks.xsum": lambda nums: sum(sum(n) if isinstance(n, list) else n for n in nums),
    "conftasks.identity": lambda x: x,
    "conftasks.echo": lambda *a, **kw: [list(a), kw],
    "conftasks.fail": _fail,
    "conftasks.flaky": _flaky,
    "conftasks.sleep": lambda seconds: seconds,  # durations are the simulation's business
    "conftasks.log_error": lambda task_id: f"failed: {task_id}",
    "conftasks.log_error_id": lambda task_id: f"failed: {task_id}",
}
"""Pure stand-ins for examples/conftasks.py (errbacks get the failed task's id)."""


# ------------------------------------------------------------------ records of a run


@dataclass(frozen=True)
class Call:
    """One attempt that ran: its arguments (for map/starmap, `args` is `[items]`)."""

    task_id: str
    task: str
    attempt: int
    args: list[Any]
    kwargs: dict[str, Any]
    at: float
    role: str = "task"
    call: str = "call"


@dataclass
class SimulationResult:
    engine: Engine
    graph: Graph
    results: dict[str, JSON]
    calls: list[Call]
    launches: list[tuple[str, int, float]]  # (task id, attempt, when)
    kills: list[tuple[Kill, float]]
    steps: list[Step]
    now: float
    max_running: int
    resumes: int

    @property
    def phase(self) -> Phase:
        return self.engine.phase

    @property
    def result(self) -> JSON:
        """The workflow's result (`status.result`), or None while it is not ready."""
        if not self.engine.result_ready():
            return None
        return materialize(self.graph.result, self.results)

    @property
    def error(self) -> WorkflowError | None:
        return self.engine.error()

    @property
    def records(self) -> dict[str, TaskRecord]:
        return self.engine.records

    def state(self, task_id: str) -> TaskState:
        return self.engine.records[task_id].state

    def states(self) -> dict[str, TaskState]:
        return {task_id: record.state for task_id, record in self.engine.records.items()}

    def calls_of(self, task: str) -> list[Call]:
        return [call for call in self.calls if call.task == task]

    def errback_calls(self) -> list[Call]:
        return [call for call in self.calls if call.role == "errback"]

    def launch_times(self, task_id: str) -> list[float]:
        return [when for launched, _, when in self.launches if launched == task_id]


# ------------------------------------------------------------------ the driver


@dataclass
class _Attempt:
    node: TaskNode
    attempt: int
    seq: int
    started: bool = False
    killed: bool = False


@dataclass
class Simulation:
    """One run of a graph. Build it, then call `run()` once."""

    graph: Graph
    functions: Mapping[str, Callable[..., Any]] = field(default_factory=lambda: dict(CONFTASKS))
    script: Mapping[str, ScriptEntry] = field(default_factory=dict)  # by task id
    parallelism: int = 50
    order: Order = "canvas"
    seed: int = 0
    start_time: float = 0.0
    duration: float | Mapping[str, float] | Callable[[TaskNode, int], float] = 1.0
    start_delay: float = 0.0
    task_rules: Mapping[str, JSONObject] = field(default_factory=dict)  # by task name: @task rules
    revoke_at: float | None = None
    resume_after: Collection[int] | Callable[[int], bool] | None = None  # engine-call numbers
    max_events: int = 1_000_000
    check_invariants: bool = True

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.host = WorkflowHost(
            "simulation",
            Engine(self.graph, parallelism=self.parallelism),
            launcher=self,
            alarm=self,
            clock=lambda: self.now,
            after_step=self._after_step,
        )
        self.results: dict[str, JSON] = {}
        self.calls: list[Call] = []
        self.launches: list[tuple[str, int, float]] = []
        self.kills: list[tuple[Kill, float]] = []
        self.steps: list[Step] = []
        self.now = self.start_time
        self.wake_at: float | None = None
        self.max_running = 0
        self.resumes = 0
        self._events: list[tuple[float, int, Any, int, str, _Attempt]] = []
        self._pool: dict[tuple[str, int], _Attempt] = {}
        self._launched: set[tuple[str, int]] = set()
        self._seq = 0
        self._revoked = False

    @property
    def engine(self) -> Engine:
        return self.host.engine

    # -------------------------------------------------------------- running

    def run(self) -> SimulationResult:
        return asyncio.run(self._drive())

    async def _drive(self) -> SimulationResult:
        await self._feed(Start)
        for _ in range(self.max_events):
            if self.engine.phase.finished and not self._events:
                break
            moment = self._next_moment()
            if moment is None:
                break  # nothing will ever happen again (a hung attempt, or a stuck engine)
            self.now = max(self.now, moment)
            if self.revoke_at is not None and not self._revoked and self.revoke_at <= self.now:
                self._revoked = True
                await self._feed(Revoke)
            elif self.wake_at is not None and self.wake_at <= self.now:
                self.wake_at = None
                await self._feed(Tick)
            else:
                await self._deliver(heapq.heappop(self._events))
        else:
            raise SimulationError(f"no end after {self.max_events} events")
        return SimulationResult(
            engine=self.engine,
            graph=self.graph,
            results=self.results,
            calls=self.calls,
            launches=self.launches,
            kills=self.kills,
            steps=self.steps,
            now=self.now,
            max_running=self.max_running,
            resumes=self.resumes,
        )

    def _next_moment(self) -> float | None:
        candidates = [self._events[0][0]] if self._events else []
        if self.wake_at is not None:
            candidates.append(self.wake_at)
        if self.revoke_at is not None and not self._revoked and not self.engine.phase.finished:
            candidates.append(self.revoke_at)
        return min(candidates, default=None)

    async def _feed(self, event: EventMaker) -> None:
        """One event through the host; then, if asked, an operator restart after that step."""
        await self.host.feed(event)
        if self._resume_now(len(self.steps)):
            await self._resume()

    # -------------------------------------------------------------- the host's collaborators

    def set(self, host: WorkflowHost, at: float | None) -> None:
        """The alarm: the run's own loop feeds the Tick at `at`."""
        self.wake_at = at

    def kill(self, host: WorkflowHost, kill: Kill) -> None:
        self.kills.append((kill, self.now))
        running = self._pool.pop((kill.task_id, kill.attempt), None)
        if running is not None:
            running.killed = True

    def launch(self, host: WorkflowHost, launch: Launch) -> None:
        self._launch(launch)

    async def _after_step(self, host: WorkflowHost, step: Step) -> None:
        self.steps.append(step)
        if self.check_invariants:
            self._check()

    def _launch(self, launch: Launch) -> None:
        key = (launch.node.id, launch.attempt)
        if key in self._launched:
            raise SimulationError(f"attempt {launch.attempt} of {launch.node.id} launched twice")
        self._launched.add(key)
        self.launches.append((launch.node.id, launch.attempt, self.now))
        self._seq += 1
        running = _Attempt(launch.node, launch.attempt, self._seq)
        self._pool[key] = running
        self.max_running = max(self.max_running, len(self._pool))
        if len(self._pool) > self.parallelism:
            raise SimulationError(f"{len(self._pool)} attempts running, parallelism is {self.parallelism}")
        self._push(self.now + self.start_delay, 0, running)

    def _push(self, when: float, kind: int, running: _Attempt) -> None:
        heapq.heappush(
            self._events,
            (when, kind, self._tiebreak(running), running.seq, "start" if kind == 0 else "finish", running),
        )

    def _tiebreak(self, running: _Attempt) -> Any:
        if callable(self.order):
            return self.order(running.node, running.attempt)
        if self.order == "canvas":
            return (running.node.index, running.attempt)
        if self.order == "reverse":
            return (-running.node.index, -running.attempt)
        if self.order == "fifo":
            return running.seq
        return self.rng.random()

    def _duration(self, node: TaskNode, attempt: int, outcome: Outcome | None) -> float:
        if outcome is not None and outcome.duration is not None:
            return outcome.duration
        if callable(self.duration):
            base = self.duration(node, attempt)
        elif isinstance(self.duration, Mapping):
            base = self.duration.get(node.id, self.duration.get(node.task, 1.0))
        else:
            base = self.duration
        return base * self.rng.uniform(0.0, 2.0) if self.order == "random" else base

    async def _deliver(self, event: tuple[float, int, Any, int, str, _Attempt]) -> None:
        _, _, _, _, kind, running = event
        node, attempt = running.node, running.attempt
        if running.killed:
            return
        if kind == "start":
            running.started = True
            outcome = self._scripted(node, attempt)
            if isinstance(outcome, Expire):
                self._pool.pop((node.id, attempt), None)
                await self._feed(lambda now: Expired(node.id, attempt, now))
                return
            await self._feed(lambda now: Started(node.id, attempt, now))
            if (node.id, attempt) not in self._pool:
                return  # killed by that very step
            if isinstance(outcome, Hang):
                return
            self._push(self.now + self._duration(node, attempt, outcome), 1, running)
            return
        self._pool.pop((node.id, attempt), None)
        await self._feed(self._run(node, attempt))

    def _scripted(self, node: TaskNode, attempt: int) -> Outcome | None:
        entry = self.script.get(node.id)
        if entry is None:
            return None
        if isinstance(entry, list):
            return entry[attempt - 1] if attempt <= len(entry) else None
        if callable(entry):
            return entry(attempt)
        return entry

    def _run(self, node: TaskNode, attempt: int) -> EventMaker:
        """Run the attempt (script first, else the function): what the engine is to hear."""
        rule = self.task_rules.get(node.task)
        outcome = self._scripted(node, attempt)
        args, kwargs = self._arguments(node)
        self.calls.append(
            Call(node.id, node.task, attempt, args, kwargs, self.now, role=node.role, call=node.call)
        )
        if outcome is None:
            outcome = self._call_function(node, attempt, args, kwargs)
        if isinstance(outcome, Succeed):
            try:
                self.results[node.id] = to_json_value(outcome.value)
            except NotJSONError as error:
                failure = TaskFailure.of(
                    TypeError, f"task {node.task!r} returned a value that is not JSON: {error}"
                )
                return lambda now: Failed(node.id, attempt, failure, now, task_rule=rule)
            return lambda now: Succeeded(node.id, attempt, now)
        if isinstance(outcome, Raise):
            error = outcome.failure()
            return lambda now: Failed(node.id, attempt, error, now, task_rule=rule)
        if isinstance(outcome, RetryRequest):
            countdown, max_retries = outcome.countdown, outcome.max_retries
            error = outcome.exc.failure() if outcome.exc else None
            return lambda now: RetryRequested(
                node.id,
                attempt,
                now,
                countdown=countdown,
                max_retries=max_retries,
                error=error,
                task_rule=rule,
            )
        if isinstance(outcome, Lost):
            lost = TaskFailure.of(WorkerLostError, outcome.message)
            return lambda now: Failed(node.id, attempt, lost, now, lost=True)
        raise SimulationError(f"{outcome!r} cannot happen at the end of an attempt")

    def _arguments(self, node: TaskNode) -> tuple[list[Any], dict[str, Any]]:
        if node.call != "call":
            return [list(node.items or ())], {}
        if node.input is not None and node.input.kind == "errback" and not node.immutable:
            return [node.input.failed, *node.args], dict(node.kwargs)
        call = build_call(node, self.results, self.graph.args, self.graph.kwargs)
        return list(call.args), dict(call.kwargs)

    def _call_function(
        self, node: TaskNode, attempt: int, args: list[Any], kwargs: dict[str, Any]
    ) -> Outcome:
        function = self.functions.get(node.task)
        if function is None:
            return Raise("TaskImportError", f"task {node.task!r} cannot be imported", ("ImportError",))
        try:
            with _running_as(node.id, attempt):
                if node.call == "map":
                    value = [function(item) for item in node.items or ()]
                elif node.call == "starmap":
                    value = [function(*item) for item in node.items or ()]  # type: ignore[misc]
                else:
                    value = function(*args, **kwargs)
        except Retry as retry:
            exc = Raise.of(retry.exc) if retry.exc is not None else None
            return RetryRequest(retry.countdown, retry.max_retries, exc)
        except Exception as error:  # noqa: BLE001 - the task's failure, reported to the engine
            return Raise.of(error)
        return Succeed(value)

    # -------------------------------------------------------------- checks and resume

    def _check(self) -> None:
        launched = {
            (task_id, record.attempt) for task_id, record in self.engine.records.items() if record.launched
        }
        if launched != set(self._pool):
            raise SimulationError(
                f"engine thinks {sorted(launched)} are running, the host runs {sorted(self._pool)}"
            )
        if self.engine.phase.finished:
            unfinished = [task_id for task_id, record in self.engine.records.items() if not record.terminal]
            if unfinished:
                raise SimulationError(f"workflow {self.engine.phase} with unfinished tasks {unfinished}")

    def _resume_now(self, calls: int) -> bool:
        if self.resume_after is None:
            return False
        if callable(self.resume_after):
            return bool(self.resume_after(calls))
        return calls in self.resume_after

    async def _resume(self) -> None:
        """Persist and rebuild the engine, as an operator restarted after this step would."""
        old = self.engine
        static = {node.id for node in old.graph.nodes}
        saved = json.loads(
            json.dumps(
                {
                    "graph": old.graph.to_json(),
                    "extra": [node.to_json() for node in old.ordered_nodes() if node.id not in static],
                    "records": {task_id: record.to_json() for task_id, record in old.records.items()},
                    "phase": old.phase.value,
                    "started_at": old.started_at,
                    "finished_at": old.finished_at,
                },
                allow_nan=False,
            )
        )
        graph_json: GraphJSON = saved["graph"]
        extra_json: list[TaskNodeJSON] = saved["extra"]
        self.graph = Graph.from_json(graph_json)
        self.host.engine = Engine(
            self.graph,
            parallelism=self.parallelism,
            records={task_id: TaskRecord.from_json(data) for task_id, data in saved["records"].items()},
            extra_nodes=[TaskNode.from_json(node) for node in extra_json],
            phase=Phase(saved["phase"]),
            started_at=saved["started_at"],
            finished_at=saved["finished_at"],
        )
        self.resumes += 1
        await self.host.feed(Start if self.engine.phase == Phase.PENDING else Tick)  # no resume inside it


# ------------------------------------------------------------------ conveniences


def compile_canvas(
    canvas: Mapping[str, Any],
    *,
    args: list[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> Graph:
    """Validate and compile a canvas given as the Workflow's YAML would (a dict)."""
    spec: dict[str, Any] = {"canvas": canvas}
    if args:
        spec["args"] = args
    if kwargs:
        spec["kwargs"] = dict(kwargs)
    if defaults:
        spec["defaults"] = dict(defaults)
    return compile_spec(parse_spec(spec))


def simulate(
    canvas: Mapping[str, Any] | Graph,
    *,
    args: list[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    **options: Any,
) -> SimulationResult:
    """Compile `canvas` (unless it is a Graph already) and run it to the end.

    `functions` are added to (and override) CONFTASKS; other keyword arguments are
    `Simulation` fields (script, parallelism, order, seed, revoke_at, resume_after, ...).
    """
    graph = (
        canvas
        if isinstance(canvas, Graph)
        else compile_canvas(canvas, args=args, kwargs=kwargs, defaults=defaults)
    )
    table = {**CONFTASKS, **(functions or {})}
    return Simulation(graph, functions=table, **options).run()


# ------------------------------------------------------------------ canvas builders (YAML as dicts)


def _qualified(name: str) -> str:
    return name if "." in name else f"conftasks.{name}"


def sig(name: str, *args: Any, kwargs: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """`sig("add", 2)` is `add.s(2)`; `sig("add", 2, immutable=True)` is `add.si(2)`.
    Other keywords (`options`, `link`, `linkError`) are copied as they are."""
    canvas: dict[str, Any] = {"task": _qualified(name)}
    if args:
        canvas["args"] = list(args)
    if kwargs:
        canvas["kwargs"] = dict(kwargs)
    canvas.update(extra)
    return canvas


def chain(*steps: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    return {"chain": list(steps), **extra}


def group(*members: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    return {"group": list(members), **extra}


def chord(header: Sequence[Mapping[str, Any]], body: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    return {"chord": {"header": list(header), "body": body}, **extra}
