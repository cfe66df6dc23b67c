"""Schedules: when a CronWorkflow's runs are due.

A slot (the time a run is scheduled for) is a whole number of Unix seconds. Two kinds:

- `CronSchedule`: a five-field cron expression read in an IANA time zone, evaluated by
  cronsim, which follows Debian cron across DST changes: a fixed-time job whose time
  falls in the spring-forward gap runs right after the clocks change, one in the
  repeated autumn hour runs once; `*/15 * * * *` style jobs keep their real-time
  rhythm through both.
- `IntervalSchedule` (`{every: 30s}`): every N seconds of elapsed time, aligned to the
  Unix epoch, so slots do not depend on when the CronWorkflow or the operator started.

Parsing reports problems by field path (`spec.schedule: ...`) as InvalidWorkflow.
"""

from __future__ import annotations

import abc
import math
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

from kubecanvas._kits.suggestions import did_you_mean
from kubecanvas.errors import InvalidWorkflow, Problem

__all__ = [
    "CRON_FIELDS",
    "MACROS",
    "CronSchedule",
    "IntervalSchedule",
    "Schedule",
    "duration_text",
    "parse_cron",
    "parse_duration",
    "parse_schedule",
    "parse_timezone",
]

CRON_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_FIELD_VALUES = {
    "minute": "0-59",
    "hour": "0-23",
    "day-of-month": "1-31, L or LW",
    "month": "1-12 or JAN-DEC",
    "day-of-week": "0-7 or SUN-SAT, with optional L or #N",
}
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_EXAMPLE = "such as '*/5 * * * *' or '@daily'"
_ZONES = "such as 'Europe/Paris' or 'UTC'"
_EVERY = "{every: 30s}"
_NOT_CRON = "{!r} is not a valid cron expression: {}"
# cronsim gives up after 50 years without a match; this is where validation looks from.
_REFERENCE = datetime(2000, 1, 1, tzinfo=UTC)


class Schedule(abc.ABC):
    """The slots of a schedule; every method is pure and answers in whole Unix seconds."""

    @property
    @abc.abstractmethod
    def text(self) -> str:
        """How the schedule reads in `kubectl get` and in messages."""

    @abc.abstractmethod
    def next_after(self, moment: float) -> int | None:
        """The first slot strictly after `moment` (None: the schedule never fires again)."""

    @abc.abstractmethod
    def latest_at_or_before(self, moment: float) -> int | None:
        """The last slot at or before `moment` (None: none in cron's 50-year horizon)."""

    def slots_between(self, after: float, before: float, limit: int = 100) -> Iterator[int]:
        """Slots strictly between `after` and `before`, oldest first, at most `limit` of them."""
        slot = self.next_after(after)
        count = 0
        while slot is not None and slot < before and count < limit:
            yield slot
            count += 1
            slot = self.next_after(slot)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.text!r}>"


class IntervalSchedule(Schedule):
    def __init__(self, seconds: int) -> None:
        if seconds < 1:
            raise ValueError("an interval is at least one second")
        self.seconds = seconds

    @property
    def text(self) -> str:
        return f"every {duration_text(self.seconds)}"

    def next_after(self, moment: float) -> int:
        return (math.floor(moment) // self.seconds + 1) * self.seconds

    def latest_at_or_before(self, moment: float) -> int:
        return (math.floor(moment) // self.seconds) * self.seconds

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IntervalSchedule) and other.seconds == self.seconds

    def __hash__(self) -> int:
        return hash(self.seconds)


class CronSchedule(Schedule):
    def __init__(self, expression: str, zone: tzinfo = UTC, *, source: str | None = None) -> None:
        self.expression = expression  # five fields, macros expanded
        self.zone = zone
        self.source = source or expression  # as written, e.g. '@daily'

    @property
    def text(self) -> str:
        return self.source

    def next_after(self, moment: float) -> int | None:
        start = datetime.fromtimestamp(math.floor(moment), tz=self.zone)
        iterator = CronSim(self.expression, start)
        # cronsim reads fixed-time expressions on the wall clock; started inside the second
        # pass of a repeated autumn hour, it can answer a time of the first pass: skip it.
        for _ in range(4):
            try:
                slot = int(next(iterator).timestamp())
            except StopIteration:
                return None
            if slot > moment:
                return slot
        return None  # pragma: no cover - cronsim moves forward by at least a day here

    def latest_at_or_before(self, moment: float) -> int | None:
        start = datetime.fromtimestamp(math.floor(moment) + 1, tz=self.zone)
        iterator = CronSim(self.expression, start, reverse=True)
        found: int | None = None
        for _ in range(4):
            try:
                slot = int(next(iterator).timestamp())
            except StopIteration:
                return None
            if slot <= moment:
                found = slot
                break
        if found is None:
            return None  # pragma: no cover
        # The same wall-clock reading, backwards from the second pass of a repeated hour,
        # misses a slot of the first pass (01:45 EDT is before 01:10 EST): walk forward.
        for _ in range(4):
            later = self.next_after(found)
            if later is None or later > moment:
                break
            found = later
        return found

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CronSchedule):
            return False
        return (other.expression, str(other.zone)) == (self.expression, str(self.zone))

    def __hash__(self) -> int:
        return hash((self.expression, str(self.zone)))


# ------------------------------------------------------------------ parsing


def parse_schedule(value: Any, zone: tzinfo = UTC, path: str = "spec.schedule") -> Schedule:
    """`'*/5 * * * *'`, `'@daily'`, `'@every 30s'` or `{every: 30s}`."""
    if isinstance(value, str):
        return parse_cron(value, zone, path)
    if isinstance(value, Mapping):
        unknown = [key for key in value if key != "every"]
        if unknown:
            described = ", ".join(f"{key!r}{did_you_mean(str(key), ['every'])}" for key in unknown)
            raise _invalid(path, f"unknown field {described}; a schedule is a cron expression or {_EVERY}")
        if "every" not in value:
            raise _invalid(path, "'every' is required")
        return IntervalSchedule(parse_duration(value["every"], f"{path}.every"))
    raise _invalid(
        path,
        f"must be a cron expression {_EXAMPLE}, or a mapping such as {_EVERY}; got {_shown(value)}",
    )


def parse_cron(expression: str, zone: tzinfo = UTC, path: str = "spec.schedule") -> Schedule:
    text = " ".join(expression.split())
    if text.startswith("@"):
        word, _, rest = text.partition(" ")
        if word.lower() == "@every":
            return IntervalSchedule(parse_duration(rest, path))
        if word.lower() not in MACROS or rest:
            known = ", ".join([*MACROS, "@every <duration>"])
            hint = did_you_mean(word.lower(), MACROS)
            raise _invalid(path, _NOT_CRON.format(expression, f"unknown macro{hint}; known: {known}"))
        return CronSchedule(MACROS[word.lower()], zone, source=text)
    fields = text.split()
    if len(fields) != len(CRON_FIELDS):
        why = f"expected 5 fields ({' '.join(CRON_FIELDS)}), got {len(fields)}"
        if len(fields) == 6:
            why += "; for intervals under a minute use {every: 30s}"
        raise _invalid(path, _NOT_CRON.format(expression, why))
    try:
        iterator = CronSim(text, _REFERENCE)
    except CronSimError as error:
        raise _invalid(path, _NOT_CRON.format(expression, _explain(error, fields))) from None
    try:
        next(iterator)
    except StopIteration:
        raise _invalid(path, f"{expression!r} never fires (no matching time in 50 years)") from None
    return CronSchedule(text, zone)


def _explain(error: CronSimError, fields: list[str]) -> str:
    reason = str(error)
    for index, name in enumerate(CRON_FIELDS):
        if reason == f"Bad {name}":
            return f"bad {name} field {fields[index]!r} (allowed: {_FIELD_VALUES[name]})"
    return reason[:1].lower() + reason[1:]


_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNIT_SECONDS = (86400, 3600, 60, 1)


def parse_duration(value: Any, path: str) -> int:
    """`30s`, `5m`, `1h30m`, `1d`: whole seconds, at least one."""
    if not isinstance(value, str):
        raise _invalid(path, f"must be a duration such as '30s', '5m' or '1h30m', got {_shown(value)}")
    match = _DURATION.fullmatch(value.strip())
    if not value.strip() or match is None:
        raise _invalid(
            path,
            f"{value!r} is not a duration: use whole numbers with units d, h, m, s in that order, "
            "such as '30s', '5m' or '1h30m'",
        )
    seconds = sum(int(part) * unit for part, unit in zip(match.groups(), _UNIT_SECONDS, strict=True) if part)
    if seconds < 1:
        raise _invalid(path, f"{value!r} is too short: an interval is at least 1s")
    return seconds


def duration_text(seconds: int) -> str:
    """The shortest spelling: 90 -> '1m30s', 86400 -> '1d'."""
    parts = []
    for unit, size in zip("dhms", _UNIT_SECONDS, strict=True):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def parse_timezone(value: Any, path: str = "spec.timezone") -> tzinfo:
    if not isinstance(value, str) or not value:
        raise _invalid(path, f"must be an IANA time zone name {_ZONES}, got {_shown(value)}")
    if value in ("UTC", "Etc/UTC"):
        return UTC
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        hint = did_you_mean(value, available_timezones())
        raise _invalid(path, f"{value!r} is not a known IANA time zone{hint}; use a name {_ZONES}") from None


def _invalid(path: str, message: str) -> InvalidWorkflow:
    return InvalidWorkflow([Problem(path, message)])


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
