"""What the engine knows about each task and about the workflow, as plain data.

A `TaskRecord` is small and JSON-serialisable on purpose: the operator keeps one per
task in Redis (never in etcd) and rewrites only those that changed.
"""

from __future__ import annotations

import builtins
import traceback as tracebacks
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, cast

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas._kits.wirevalues import to_wire
from kubecanvas.errors import NotJSONError

__all__ = ["TERMINAL", "Phase", "TaskFailure", "TaskRecord", "TaskState"]


class TaskState(StrEnum):
    """Celery's task states."""

    PENDING = "PENDING"
    STARTED = "STARTED"
    RETRY = "RETRY"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    REVOKED = "REVOKED"


TERMINAL = frozenset({TaskState.SUCCESS, TaskState.FAILURE, TaskState.REVOKED})


class Phase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    REVOKED = "Revoked"

    @property
    def finished(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED, Phase.REVOKED)


@dataclass(frozen=True, slots=True)
class TaskFailure:
    """An exception as it crosses process boundaries: by name, never pickled.

    `types` lists the exception's classes from most to least specific, both
    qualified and bare (`conftasks.ExpectedException`, `ExpectedException`,
    `Exception`), so that `autoretryFor: [Exception]` matches subclasses.
    """

    type: str
    message: str
    module: str | None = None
    types: tuple[str, ...] = ()
    traceback: str | None = None
    args: tuple[JSON, ...] | None = None
    """The exception's arguments (Celery's JSON), when they travel: it is rebuilt with them,
    as Celery rebuilds it (`KeyError('k')`, not `KeyError("'k'")`)."""

    @classmethod
    def of(cls, kind: builtins.type[BaseException], message: str) -> TaskFailure:  # `type` is a field here
        """A failure of a known class, such as WorkerLostError or ChordError."""
        module = None if kind.__module__ == "builtins" else kind.__module__
        return cls(kind.__name__, message, module, _class_names(kind))

    @classmethod
    def from_exception(cls, error: BaseException) -> TaskFailure:
        """An exception as a task reports it: its class hierarchy, message and traceback."""
        failure = cls.of(type(error), str(error))
        try:
            args: tuple[JSON, ...] | None = tuple(cast(list[JSON], to_wire(list(error.args))))
        except NotJSONError:
            args = None  # the message alone then
        return replace(failure, traceback="".join(tracebacks.format_exception(error)), args=args)

    def matches(self, names: tuple[str, ...] | list[str]) -> bool:
        known = {self.type, *self.types}
        if self.module:
            known.add(f"{self.module}.{self.type}")
        return any(name in known or name.removeprefix("builtins.") in known for name in names)

    def describe(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type

    def to_json(self) -> JSONObject:
        data: JSONObject = {"type": self.type, "message": self.message}
        if self.module:
            data["module"] = self.module
        if self.types:
            data["types"] = list(self.types)
        if self.traceback:
            data["traceback"] = self.traceback
        if self.args is not None:
            data["args"] = list(self.args)
        return data

    @classmethod
    def from_json(cls, data: Any) -> TaskFailure:
        if not isinstance(data, dict):
            return cls(type="Error", message=str(data))
        return cls(
            type=str(data.get("type") or "Error"),
            message=str(data.get("message") or ""),
            module=data.get("module"),
            types=tuple(data.get("types") or ()),
            traceback=data.get("traceback"),
            args=tuple(data["args"]) if isinstance(data.get("args"), list) else None,
        )


def _class_names(kind: type[BaseException]) -> tuple[str, ...]:
    """`ExpectedException`, `conftasks.ExpectedException`, ..., `Exception`: bare and
    qualified, most specific first, so `autoretryFor` can name a base class either way."""
    names: list[str] = []
    for klass in kind.__mro__:
        if klass in (object, BaseException):
            continue
        names.append(klass.__name__)
        if klass.__module__ not in ("builtins", "__main__"):
            names.append(f"{klass.__module__}.{klass.__qualname__}")
    return tuple(names)


@dataclass(slots=True)
class TaskRecord:
    """The engine's state of one task.

    `attempt` counts attempts launched so far (1 for the first); `launched` says the
    current one was handed to the launcher (a Job exists, or a process) and has not
    finished. `cause` names the failed task behind a REVOKED or ChordError outcome;
    `reason` says why a task was revoked (`revoked`, `expired`, `upstream`) or that
    a FAILURE is a chord's (`chord`).
    """

    state: TaskState = TaskState.PENDING
    attempt: int = 0
    launched: bool = False
    ready_at: float | None = None
    not_before: float | None = None
    expires_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    error: TaskFailure | None = None
    cause: str | None = None
    reason: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def failed_on_its_own(self) -> bool:
        """A root cause: it raised, died or expired, rather than suffering a dependency's failure."""
        if self.state == TaskState.FAILURE:
            return self.reason != "chord"
        return self.state == TaskState.REVOKED and self.reason == "expired"

    @property
    def unsuccessful(self) -> bool:
        return self.terminal and self.state != TaskState.SUCCESS

    def to_json(self) -> JSONObject:
        data: JSONObject = {"state": self.state.value}
        if self.attempt:
            data["attempt"] = self.attempt
        for name in ("ready_at", "not_before", "expires_at", "started_at", "finished_at"):
            value = getattr(self, name)
            if value is not None:  # 0.0 is a time (a clock that starts at zero), not "unset"
                data[name] = value
        if self.launched:
            data["launched"] = True
        if self.error is not None:
            data["error"] = self.error.to_json()
        if self.cause:
            data["cause"] = self.cause
        if self.reason:
            data["reason"] = self.reason
        return data

    @classmethod
    def from_json(cls, data: Any) -> TaskRecord:
        error = data.get("error")
        return cls(
            state=TaskState(data.get("state", "PENDING")),
            attempt=int(data.get("attempt", 0)),
            launched=bool(data.get("launched", False)),
            ready_at=data.get("ready_at"),
            not_before=data.get("not_before"),
            expires_at=data.get("expires_at"),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            error=TaskFailure.from_json(error) if error is not None else None,
            cause=data.get("cause"),
            reason=data.get("reason"),
        )
