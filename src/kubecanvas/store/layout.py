"""Where a workflow lives in Redis, and the shape of what crosses between processes.

Everything of one workflow sits under `kc:{<uid>}:` (the braces are a Redis Cluster
hash tag: one workflow, one slot, so a step can be written in one transaction):

| key        | type   | holds                                                         |
|------------|--------|---------------------------------------------------------------|
| `meta`     | hash   | name, namespace, phase, times, parallelism, args, code, imports |
| `graph`    | string | the graph minus its nodes: result ref, errbacks, args, kwargs |
| `nodes`    | hash   | node id -> node (errback instances included)                  |
| `records`  | hash   | node id -> the engine's TaskRecord                            |
| `calls`    | hash   | node id -> the arguments the task was actually called with    |
| `results`  | hash   | node id -> its result, written once (HSETNX)                  |
| `outcomes` | hash   | `<id>#<attempt>` -> what that attempt reported, written once  |
| `canvas`   | string | a large spec's stored part (`canvas.offload`), once admitted   |
| `run:q:<pool>`    | list | warm attempts waiting for a runner of the pool (`RunItem`s) |
| `run:held:<name>` | list | what runner `<name>` took and has not finished (0 or 1 item) |
| `run:enqueued`    | hash | `<id>#<attempt>` -> its `RunItem`: queued once, ever        |
| `run:kills`       | hash | `<id>#<attempt>` -> why a runner must stop it (revoked, ...) |
| `run:keys`        | set  | the `run:q:*` and `run:held:*` keys made, to delete them    |

Before its Workflow exists, a large spec's stored part waits under
`kc:upload:{<namespace>}:<sha256>` (`WorkflowKeys.upload`), for `UPLOAD_TTL_SECONDS`.

Task pods report on one stream (`kubecanvas:events` unless configured otherwise),
which the operator reads as a consumer group: a completion reaches it the moment it
is written, and survives an operator restart until acknowledged. Once a workflow has
finished and its final state is stored, the host publishes its phase on the channel
`kubecanvas:finished:<uid>`, which waiting clients subscribe to.

Nothing outside `kubecanvas.store` spells a key, a field or a channel: they are all
here, and the store's classes are the only ones that read or write them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from kubecanvas._kits.jsonvalues import JSON, JSONObject, dumps, loads
from kubecanvas.engine.events import Event, Expired, Failed, RetryRequested, Started, Succeeded
from kubecanvas.engine.states import Phase, TaskFailure

__all__ = [
    "DEFAULT_EVENTS_STREAM",
    "EventKind",
    "Outcome",
    "RunItem",
    "TaskEvent",
    "WorkflowKeys",
    "WorkflowMeta",
]

DEFAULT_EVENTS_STREAM = "kubecanvas:events"
EVENTS_MAXLEN = 200_000  # approximate trim; a consumer that is this far behind has bigger problems

EventKind = Literal["started", "succeeded", "failed", "retry", "expired"]


@dataclass(frozen=True, slots=True)
class WorkflowKeys:
    uid: str

    @property
    def prefix(self) -> str:
        return f"kc:{{{self.uid}}}:"

    @property
    def meta(self) -> str:
        return self.prefix + "meta"

    @property
    def graph(self) -> str:
        return self.prefix + "graph"

    @property
    def nodes(self) -> str:
        return self.prefix + "nodes"

    @property
    def records(self) -> str:
        return self.prefix + "records"

    @property
    def calls(self) -> str:
        return self.prefix + "calls"

    @property
    def results(self) -> str:
        return self.prefix + "results"

    @property
    def outcomes(self) -> str:
        return self.prefix + "outcomes"

    @property
    def canvas(self) -> str:
        return self.prefix + "canvas"

    @staticmethod
    def upload(namespace: str, sha256: str) -> str:
        """Where an uploaded stored part waits for its Workflow (per namespace: a Workflow
        only ever joins what was uploaded to its own)."""
        return f"kc:upload:{{{namespace}}}:{sha256}"

    @property
    def finished_channel(self) -> str:
        """The pub/sub channel the host announces the workflow's end on."""
        return f"kubecanvas:finished:{self.uid}"

    # ------------------------------------------------ warm runners (operator/runners.py)

    def runner_queue(self, pool: str) -> str:
        return f"{self.prefix}run:q:{pool}"

    def runner_held(self, runner: str) -> str:
        return f"{self.prefix}run:held:{runner}"

    @property
    def enqueued(self) -> str:
        return self.prefix + "run:enqueued"

    @property
    def kills(self) -> str:
        return self.prefix + "run:kills"

    @property
    def runner_keys(self) -> str:
        """The set of the `run:q:*` and `run:held:*` keys made (named per pool and runner)."""
        return self.prefix + "run:keys"

    @property
    def runner_writable(self) -> str:
        """The pattern of the keys a runner moves its work between (store/tenancy.py)."""
        return self.prefix + "run:[qh]*"

    def all(self) -> list[str]:
        """The keys of fixed names; `runner_keys` lists the others."""
        return [
            self.meta,
            self.graph,
            self.nodes,
            self.records,
            self.calls,
            self.results,
            self.outcomes,
            self.canvas,
            self.enqueued,
            self.kills,
            self.runner_keys,
        ]

    @staticmethod
    def outcome_field(task_id: str, attempt: int) -> str:
        return f"{task_id}#{attempt}"

    META_PATTERN = "kc:{*}:meta"  # every workflow's meta hash, for a SCAN

    @staticmethod
    def uid_of_meta(key: str) -> str | None:
        """The workflow uid of a key that META_PATTERN matched."""
        if key.startswith("kc:{") and key.endswith("}:meta"):
            return key[len("kc:{") : -len("}:meta")]
        return None


@dataclass(frozen=True, slots=True)
class WorkflowMeta:
    """The `meta` hash of one workflow, typed: who it is, how it runs, where it stands.

    (Two more fields, `args` and `kwargs`, hold the workflow's call-time arguments for
    task pods, which read them with HGET; they are written with the graph.)"""

    name: str
    namespace: str
    parallelism: int = 50
    code: JSONObject | None = None
    imports: tuple[str, ...] = ()  # spec.imports
    ttl: int | None = None  # spec.ttlSecondsAfterFinished
    created_at: float | None = None
    phase: Phase = Phase.PENDING
    started_at: float | None = None
    finished_at: float | None = None

    def to_fields(self) -> dict[str, str]:
        fields = {
            "name": self.name,
            "namespace": self.namespace,
            "parallelism": str(self.parallelism),
            "phase": self.phase.value,
        }
        if self.code is not None:
            fields["code"] = dumps(self.code)
        if self.imports:
            fields["imports"] = dumps(list(self.imports))
        if self.ttl is not None:
            fields["ttl"] = str(self.ttl)
        for name, value in (
            ("createdAt", self.created_at),
            ("startedAt", self.started_at),
            ("finishedAt", self.finished_at),
        ):
            if value is not None:
                fields[name] = repr(value)
        return fields

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> WorkflowMeta:
        """Read back; `"null"` (what earlier versions wrote for a missing value) is None."""

        def text(name: str) -> str | None:
            value = fields.get(name)
            return None if value in (None, "", "null") else value

        code = loads(text("code") or "null")
        imports = loads(text("imports") or "[]")
        ttl, parallelism = text("ttl"), text("parallelism")
        return cls(
            name=fields.get("name", ""),
            namespace=fields.get("namespace", ""),
            parallelism=int(parallelism) if parallelism else 50,
            code=code if isinstance(code, dict) else None,
            imports=tuple(str(module) for module in imports) if isinstance(imports, list) else (),
            ttl=int(ttl) if ttl else None,
            created_at=_float(text("createdAt")),
            phase=Phase(fields.get("phase") or Phase.PENDING.value),
            started_at=_float(text("startedAt")),
            finished_at=_float(text("finishedAt")),
        )


def _float(text: str | None) -> float | None:
    return float(text) if text else None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt of a task reported.

    `retry` carries `countdown`/`max_retries` from `self.retry()`; `task_rule` is the
    `@task` decorator's retry rule, which only the runtime can see.
    """

    kind: Literal["succeeded", "failed", "retry", "expired"]
    error: TaskFailure | None = None
    countdown: float | None = None
    max_retries: int | None = None
    task_rule: JSONObject | None = None
    started_at: float | None = None
    finished_at: float | None = None

    def to_json(self) -> JSONObject:
        data: JSONObject = {"kind": self.kind}
        if self.error is not None:
            data["error"] = self.error.to_json()
        for name, value in (
            ("countdown", self.countdown),
            ("maxRetries", self.max_retries),
            ("taskRule", self.task_rule),
            ("startedAt", self.started_at),
            ("finishedAt", self.finished_at),
        ):
            if value is not None:
                data[name] = value
        return data

    def event(self, task_id: str, attempt: int, at: float) -> Event:
        """What this attempt reported, as the engine's event: one reading for every host."""
        if self.kind == "succeeded":
            return Succeeded(task_id, attempt, at)
        if self.kind == "expired":
            return Expired(task_id, attempt, at)
        error = self.error or TaskFailure("Error", "the task failed without saying why")
        if self.kind == "retry":
            return RetryRequested(
                task_id,
                attempt,
                at,
                countdown=self.countdown,
                max_retries=self.max_retries,
                error=error,
                task_rule=self.task_rule,
            )
        return Failed(task_id, attempt, error, at, task_rule=self.task_rule)

    @classmethod
    def from_json(cls, data: Any) -> Outcome:
        if not isinstance(data, dict) or data.get("kind") not in ("succeeded", "failed", "retry", "expired"):
            raise ValueError(f"not a task outcome: {data!r}")
        error = data.get("error")
        return cls(
            kind=data["kind"],
            error=TaskFailure.from_json(error) if error is not None else None,
            countdown=data.get("countdown"),
            max_retries=data.get("maxRetries"),
            task_rule=data.get("taskRule"),
            started_at=data.get("startedAt"),
            finished_at=data.get("finishedAt"),
        )


@dataclass(frozen=True, slots=True)
class RunItem:
    """One warm attempt as it waits in a pool's queue and sits in a runner's hands.

    Its text is written once (`run:enqueued`) and moved as is between lists, so the
    operator can take it back out of a queue by value (LREM)."""

    task_id: str
    attempt: int
    pool: str
    expires_at: float | None = None
    timeout: float | None = None  # the task's own hard limit: the runner kills it after this

    @property
    def field(self) -> str:
        return WorkflowKeys.outcome_field(self.task_id, self.attempt)

    def to_text(self) -> str:
        data: JSONObject = {"t": self.task_id, "a": self.attempt, "p": self.pool}
        if self.expires_at is not None:
            data["x"] = self.expires_at
        if self.timeout is not None:
            data["d"] = self.timeout
        return dumps(data)

    @classmethod
    def from_text(cls, text: str | bytes) -> RunItem:
        data = loads(text)
        task_id, attempt = (data.get("t"), data.get("a")) if isinstance(data, dict) else (None, None)
        if not (isinstance(data, dict) and isinstance(task_id, str) and isinstance(attempt, int)):
            raise ValueError(f"not a run item: {text!r}")
        expires, timeout = data.get("x"), data.get("d")
        return cls(
            task_id=task_id,
            attempt=attempt,
            pool=str(data.get("p") or ""),
            expires_at=float(expires) if isinstance(expires, int | float) else None,
            timeout=float(timeout) if isinstance(timeout, int | float) else None,
        )


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One entry of the events stream: news about one attempt of one task."""

    workflow_uid: str
    task_id: str
    attempt: int
    kind: EventKind
    outcome: Outcome | None = None
    at: float | None = None
    stream_id: str = field(default="", compare=False)

    def event(self, at: float) -> Event:
        """This news, as the engine's event (`at`: when the host took it)."""
        if self.kind == "started":
            return Started(self.task_id, self.attempt, at)
        outcome = self.outcome or Outcome(self.kind)
        return outcome.event(self.task_id, self.attempt, at)

    @staticmethod
    def workflow_of(fields: dict[str, str]) -> str | None:
        """The workflow uid of a raw stream entry, without decoding the rest."""
        return fields.get("w")

    def to_fields(self) -> dict[str, str]:
        fields = {"w": self.workflow_uid, "t": self.task_id, "a": str(self.attempt), "k": self.kind}
        if self.outcome is not None:
            fields["o"] = dumps(self.outcome.to_json())
        if self.at is not None:
            fields["at"] = repr(self.at)
        return fields

    @classmethod
    def from_fields(cls, stream_id: str, fields: dict[str, str]) -> TaskEvent:
        raw_outcome = fields.get("o")
        raw_at = fields.get("at")
        return cls(
            workflow_uid=fields["w"],
            task_id=fields["t"],
            attempt=int(fields["a"]),
            kind=fields["k"],  # type: ignore[arg-type]
            outcome=Outcome.from_json(loads(raw_outcome)) if raw_outcome else None,
            at=float(raw_at) if raw_at else None,
            stream_id=stream_id,
        )


def encode(value: JSON) -> str:
    return dumps(value)


def decode(text: str | bytes | None) -> JSON:
    return None if text is None else loads(text)
