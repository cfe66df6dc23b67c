"""Task options as Python callers spell them, turned into the Workflow's TaskOptions.

Callers write Celery's snake_case (`node_selector=`, `time_limit=`) and Python values
(datetimes, timedeltas, exception classes, an `env` dict); the Workflow holds camelCase
JSON. Names are checked here, at the call that got them wrong, because a misspelt
option that is silently dropped is the worst kind of bug. Values get a light check
here and the full one when the Workflow is built (`to_workflow`), which keeps pydantic
out of task pods.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from kubecanvas._kits.jsonvalues import JSON, JSONObject, to_json_value
from kubecanvas._kits.wirevalues import to_wire
from kubecanvas.errors import InvalidWorkflow, NotJSONError, Problem
from kubecanvas.sdk.task_names import exception_name

__all__ = ["OPTION_NAMES", "json_at", "normalize_code", "normalize_options", "rfc3339"]

# Python spelling -> Workflow spelling. The Workflow spelling is accepted too, so that
# mappings read from YAML go through the same door.
_FIELDS: dict[str, str] = {
    "countdown": "countdown",
    "eta": "eta",
    "expires": "expires",
    "timeout": "timeout",
    "time_limit": "timeout",  # Celery's hard limit
    "soft_timeout": "softTimeout",
    "soft_time_limit": "softTimeout",  # Celery's soft limit
    "softTimeout": "softTimeout",
    "retries": "retries",
    "image": "image",
    "resources": "resources",
    "env": "env",
    "node_selector": "nodeSelector",
    "nodeSelector": "nodeSelector",
    "tolerations": "tolerations",
    "service_account_name": "serviceAccountName",
    "serviceAccountName": "serviceAccountName",
    "priority": "priority",
    "headers": "headers",
    "queue": "queue",
    "runner": "runner",  # ours: "warm" runs it in a warm runner's forked process
    "runners": "runners",  # ours: how many warm runners its pool may have
    "task_id": "taskId",  # Celery's: the task's own id (self.request.id, res.id)
    "taskId": "taskId",
}
OPTION_NAMES: tuple[str, ...] = tuple(name for name in _FIELDS if not any(c.isupper() for c in name))

_RETRY_FIELDS: dict[str, str] = {
    "max": "max",
    "delay": "delay",
    "backoff": "backoff",
    "backoff_max": "backoffMax",
    "backoffMax": "backoffMax",
    "jitter": "jitter",
    "autoretry_for": "autoretryFor",
    "autoretryFor": "autoretryFor",
}

_JSON_ONLY = (
    "arguments and results travel as Celery's JSON (with its datetime, date, time, Decimal, "
    "UUID and bytes forms); serializer='json' is accepted, pickle never"
)

# Celery options with no meaning here, and what to do instead.
_CELERY_ONLY: dict[str, str] = {
    "routing_key": "routing here is by queue= (a place to run, set in app.conf.kubecanvas_queues)",
    "exchange": "routing here is by queue= (a place to run, set in app.conf.kubecanvas_queues)",
    "compression": "arguments and results always travel as JSON",
    "retry_policy": "that is Celery's publish retry, given to apply_async(); "
    "task retries are retries={'max': ..., 'delay': ...}",
    "ignore_result": "every result is kept in the Workflow's status",
}


def normalize_options(
    options: Mapping[str, Any], path: str = "options", *, also_known: Iterable[str] = ()
) -> JSONObject:
    """The Workflow spelling of `options`, or InvalidWorkflow naming every bad option.

    `also_known` are other names the caller accepts, offered in did-you-mean hints."""
    result: JSONObject = {}
    given_as: dict[str, str] = {}
    problems: list[Problem] = []
    for key, value in options.items():
        if key == "serializer":  # what every value here travels as: nothing to record
            if value != "json":
                problems.append(
                    Problem(f"{path}.{key}", f"serializer {value!r} is not supported: {_JSON_ONLY}")
                )
            continue
        field = _FIELDS.get(key)
        if field is None:
            problems.append(Problem(f"{path}.{key}", _unknown_option(key, also_known)))
            continue
        if field in given_as:
            problems.append(Problem(f"{path}.{field}", f"given twice, as {given_as[field]!r} and {key!r}"))
            continue
        given_as[field] = key
        try:
            result[field] = _CONVERT[field](value, f"{path}.{field}")
        except _Bad as bad:
            problems.append(Problem(bad.path, bad.message))
    if problems:
        raise InvalidWorkflow(problems)
    return result


def _unknown_option(key: str, also_known: Iterable[str]) -> str:
    from kubecanvas._kits.suggestions import did_you_mean  # difflib: only when something is wrong

    note = _CELERY_ONLY.get(key)
    if note is not None:
        return f"option {key!r} is not supported: {note}"
    hint = did_you_mean(key, [*OPTION_NAMES, "link", "link_error", *also_known])
    return f"unknown option {key!r}{hint}; options are: {', '.join(OPTION_NAMES)}"


def normalize_code(code: Mapping[str, Any], path: str = "spec.code") -> JSONObject:
    """A CodeSource mapping in the Workflow's spelling (`config_map=` becomes `configMap`)."""
    if not isinstance(code, Mapping):
        raise InvalidWorkflow([Problem(path, f"must be a mapping such as {{'path': '/app'}}, not {code!r}")])
    return _json(_camel_keys(code), path)  # type: ignore[return-value]


def rfc3339(moment: datetime, path: str) -> str:
    """The time as RFC 3339; a naive one is read as UTC, as Celery (`enable_utc`, its default)
    reads the `datetime.utcnow() + timedelta(...)` its guides write."""
    del path  # every datetime has a reading now
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat().replace("+00:00", "Z")


class _Bad(Exception):
    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


def json_at(value: Any, path: str, *, wire: bool = False) -> JSON:
    """`value` as JSON (tuples become lists), or InvalidWorkflow naming where it is not.
    With `wire` (values as a task's arguments travel), Celery's JSON extensions too
    (`_kits/wirevalues.py`). The one conversion of the SDK's values: options, arguments,
    labels."""
    try:
        return to_wire(value) if wire else to_json_value(value)
    except NotJSONError as error:
        where = f"{path}{'.' if error.path and not error.path.startswith('[') else ''}{error.path}"
        raise InvalidWorkflow(
            [Problem(where, f"{type(error.value).__name__} {error.value!r} is not a JSON value")]
        ) from None


def _json(value: Any, path: str, *, wire: bool = False) -> JSON:
    """`json_at`, its problem collected with the other options' (`normalize_options`)."""
    try:
        return json_at(value, path, wire=wire)
    except InvalidWorkflow as error:
        (problem,) = error.problems
        raise _Bad(problem.path, problem.message) from None


def _seconds(value: Any, path: str, *, positive: bool = False) -> JSON:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Bad(path, f"must be a number of seconds (or a timedelta), not {value!r}")
    if value < 0 or (positive and value == 0):
        raise _Bad(path, f"must be {'greater than' if positive else 'at least'} 0, got {value!r}")
    return value


def _countdown(value: Any, path: str) -> JSON:
    return _seconds(value, path)


def _timeout(value: Any, path: str) -> JSON:
    return _seconds(value, path, positive=True)


def _eta(value: Any, path: str) -> JSON:
    if isinstance(value, datetime):
        return rfc3339(value, path)
    if isinstance(value, str):
        return value
    raise _Bad(path, f"must be a timezone-aware datetime or an RFC 3339 string, not {value!r}")


def _expires(value: Any, path: str) -> JSON:
    if isinstance(value, datetime | str):
        return _eta(value, path)
    return _seconds(value, path)


def _retries(value: Any, path: str) -> JSON:
    if not isinstance(value, Mapping):
        raise _Bad(path, f"must be a mapping such as {{'max': 3, 'delay': 1}}, not {value!r}")
    policy: JSONObject = {}
    for key, item in value.items():
        field = _RETRY_FIELDS.get(key)
        if field is None:
            from kubecanvas._kits.suggestions import did_you_mean  # difflib: only when something is wrong

            hint = did_you_mean(
                str(key), ["max", "delay", "backoff", "backoff_max", "jitter", "autoretry_for"]
            )
            raise _Bad(f"{path}.{key}", f"unknown retry field {key!r}{hint}")
        if field == "autoretryFor":
            kinds = [item] if isinstance(item, str | type) else list(item)
            try:
                policy[field] = [exception_name(kind) for kind in kinds]
            except TypeError as error:
                raise _Bad(f"{path}.{field}", str(error)) from None
        else:
            policy[field] = _json(item, f"{path}.{field}")
    return policy


def _env(value: Any, path: str) -> JSON:
    if isinstance(value, Mapping):
        variables: list[JSON] = []
        for name, item in value.items():
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise _Bad(f"{path}.{name}", f"an environment value must be a string, not {item!r}")
            variables.append({"name": str(name), "value": str(item)})
        return variables
    if isinstance(value, list | tuple):
        return _json([_camel_keys(item) if isinstance(item, Mapping) else item for item in value], path)
    raise _Bad(path, f"must be a mapping of names to values or a list of {{name, value}}, not {value!r}")


def _mapping(value: Any, path: str) -> JSON:
    if not isinstance(value, Mapping):
        raise _Bad(path, f"must be a mapping, not {value!r}")
    return _json(value, path)


def _list(value: Any, path: str) -> JSON:
    if not isinstance(value, list | tuple):
        raise _Bad(path, f"must be a list, not {value!r}")
    return _json(value, path)


def _text(value: Any, path: str) -> JSON:
    if not isinstance(value, str) or not value:
        raise _Bad(path, f"must be a non-empty string, not {value!r}")
    return value


def _task_id(value: Any, path: str) -> JSON:
    """A string, as Celery's `task_id` is (a UUID object is taken as its text)."""
    import uuid

    return _text(str(value) if isinstance(value, uuid.UUID) else value, path)


def _headers(value: Any, path: str) -> JSON:
    """Celery's custom headers: names to values, values as arguments travel (Celery's JSON)."""
    if not isinstance(value, Mapping):
        raise _Bad(path, f"must be a mapping of header names to values, not {value!r}")
    headers: JSONObject = {}
    for name, item in value.items():
        if not isinstance(name, str) or not name:
            raise _Bad(path, f"a header name must be a non-empty string, not {name!r}")
        headers[name] = _json(item, f"{path}.{name}", wire=True)
    return headers


def _priority(value: Any, path: str) -> JSON:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(path, f"must be a whole number from 0 to 255, not {value!r}")
    return value


def _count(value: Any, path: str) -> JSON:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Bad(path, f"must be a whole number of at least 1, not {value!r}")
    return value


_CONVERT = {
    "countdown": _countdown,
    "eta": _eta,
    "expires": _expires,
    "timeout": _timeout,
    "softTimeout": _timeout,
    "retries": _retries,
    "image": _text,
    "resources": _mapping,
    "env": _env,
    "nodeSelector": _mapping,
    "tolerations": _list,
    "serviceAccountName": _text,
    "priority": _priority,
    "headers": _headers,
    "queue": _text,
    "runner": _text,
    "runners": _count,
    "taskId": _task_id,
}


def _camel_keys(value: Mapping[str, Any]) -> dict[str, Any]:
    """`value_from` -> `valueFrom`, recursively, for mappings whose keys are field names."""
    return {
        _camel(str(key)): _camel_keys(item) if isinstance(item, Mapping) else item
        for key, item in value.items()
    }


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
