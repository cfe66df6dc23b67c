"""Celery beat's schedules, written as Celery writes them, becoming CronWorkflow schedules.

`crontab(minute=30, hour=7, day_of_week="mon-fri")` is the cron expression
`30 7 * * mon-fri`; `schedule(timedelta(seconds=30))`, a timedelta or a number of seconds
is `{every: 30s}`. `solar` has no cron form: it is refused with what to use instead.
The CronWorkflow's own check (`scheduling/`) then says whether the expression is valid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from kubecanvas._kits.jsonvalues import JSON

__all__ = ["crontab", "schedule", "schedule_field", "solar"]


def _field(value: Any) -> str:
    if isinstance(value, str):
        return value.replace(" ", "")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, Iterable):
        items = sorted(value) if isinstance(value, set | frozenset) else list(value)
        return ",".join(_field(item) for item in items)
    raise TypeError(f"a crontab field takes a number, a string or a set of them, not {value!r}")


@dataclass(frozen=True, slots=True)
class crontab:  # noqa: N801 - Celery's name
    """Celery's `crontab(minute, hour, day_of_week, day_of_month, month_of_year)`."""

    minute: Any = "*"
    hour: Any = "*"
    day_of_week: Any = "*"
    day_of_month: Any = "*"
    month_of_year: Any = "*"

    @property
    def expression(self) -> str:
        """The five-field cron expression (cron's order: minute hour day month weekday)."""
        fields = (self.minute, self.hour, self.day_of_month, self.month_of_year, self.day_of_week)
        return " ".join(_field(value) for value in fields)

    def __str__(self) -> str:
        return self.expression


@dataclass(frozen=True, slots=True)
class schedule:  # noqa: N801 - Celery's name
    """Celery's `schedule(run_every)`: a fixed interval."""

    run_every: timedelta | float

    @property
    def seconds(self) -> float:
        every = self.run_every
        return every.total_seconds() if isinstance(every, timedelta) else float(every)


def solar(*_: Any, **__: Any) -> None:
    """Celery's sun-event schedule: no cron form, so refused here."""
    raise NotImplementedError(
        "solar schedules are not supported: a CronWorkflow runs on cron times (use crontab at "
        "the hours you need) or fixed intervals"
    )


def schedule_field(value: Any, where: str) -> JSON:
    """A beat entry's `schedule` as a CronWorkflow's `spec.schedule`."""
    if isinstance(value, crontab):
        return value.expression
    if isinstance(value, schedule | timedelta) or (
        isinstance(value, int | float) and not isinstance(value, bool)
    ):
        seconds = value.seconds if isinstance(value, schedule) else schedule(value).seconds
        if seconds < 1 or seconds != int(seconds):
            raise ValueError(f"{where}: an interval must be whole seconds, at least 1, not {seconds:g}")
        return {"every": f"{int(seconds)}s"}
    if isinstance(value, str):
        return value  # a cron expression or @daily, checked with the CronWorkflow
    raise TypeError(f"{where}: a schedule is a crontab, a schedule, a timedelta or seconds, not {value!r}")
