"""Schedules: parsing (with field paths) and slots, in time zones and across DST changes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from kubecanvas.errors import InvalidWorkflow
from kubecanvas.scheduling import (
    CronSchedule,
    IntervalSchedule,
    parse_cron,
    parse_duration,
    parse_schedule,
    parse_timezone,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    """A UTC time as epoch seconds."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def local(slot: float | None, zone: ZoneInfo) -> str:
    assert slot is not None
    return datetime.fromtimestamp(slot, zone).isoformat()


def problem(error: pytest.ExceptionInfo[InvalidWorkflow]) -> str:
    assert len(error.value.problems) == 1
    return str(error.value.problems[0])


# ------------------------------------------------------------------ cron parsing


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            "*/5 * * *",
            "spec.schedule: '*/5 * * *' is not a valid cron expression: expected 5 fields "
            "(minute hour day-of-month month day-of-week), got 4",
        ),
        (
            "*/5 * * * * *",
            "spec.schedule: '*/5 * * * * *' is not a valid cron expression: expected 5 fields "
            "(minute hour day-of-month month day-of-week), got 6; for intervals under a minute "
            "use {every: 30s}",
        ),
        (
            "61 * * * *",
            "spec.schedule: '61 * * * *' is not a valid cron expression: bad minute field '61' "
            "(allowed: 0-59)",
        ),
        (
            "0 24 * * *",
            "spec.schedule: '0 24 * * *' is not a valid cron expression: bad hour field '24' (allowed: 0-23)",
        ),
        (
            "0 0 30 2 *",
            "spec.schedule: '0 0 30 2 *' is not a valid cron expression: bad day-of-month field '30' "
            "(allowed: 1-31, L or LW)",
        ),
        (
            "0 0 * 13 *",
            "spec.schedule: '0 0 * 13 *' is not a valid cron expression: bad month field '13' "
            "(allowed: 1-12 or JAN-DEC)",
        ),
        (
            "0 0 * * FUNDAY",
            "spec.schedule: '0 0 * * FUNDAY' is not a valid cron expression: bad day-of-week field "
            "'FUNDAY' (allowed: 0-7 or SUN-SAT, with optional L or #N)",
        ),
        (
            "*/0 * * * *",
            "spec.schedule: '*/0 * * * *' is not a valid cron expression: bad minute field '*/0' "
            "(allowed: 0-59)",
        ),
        (
            "",
            "spec.schedule: '' is not a valid cron expression: expected 5 fields "
            "(minute hour day-of-month month day-of-week), got 0",
        ),
    ],
)
def test_an_invalid_cron_expression_is_explained_by_field(expression: str, message: str) -> None:
    with pytest.raises(InvalidWorkflow) as error:
        parse_schedule(expression)
    assert problem(error) == message


def test_an_unknown_macro_gets_a_hint() -> None:
    with pytest.raises(InvalidWorkflow) as error:
        parse_schedule("@dayly", path="spec.schedule")
    assert problem(error).startswith(
        "spec.schedule: '@dayly' is not a valid cron expression: unknown macro "
        "(did you mean '@daily'?); known: @yearly"
    )


@pytest.mark.parametrize(
    ("text", "expression"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("  0   12 * * MON-FRI ", "0 12 * * MON-FRI"),
        ("0 9 L * *", "0 9 L * *"),
        ("0 9 * * fri#2", "0 9 * * fri#2"),
    ],
)
def test_macros_and_spacing(text: str, expression: str) -> None:
    schedule = parse_schedule(text)
    assert isinstance(schedule, CronSchedule)
    assert schedule.expression == expression
    assert schedule.text == " ".join(text.split())


def test_at_every_is_an_interval() -> None:
    assert parse_schedule("@every 1h30m") == IntervalSchedule(5400)


# ------------------------------------------------------------------ every


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1), ("30s", 30), ("5m", 300), ("1h30m", 5400), ("2h0m5s", 7205), ("1d", 86400), ("90s", 90)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_schedule({"every": text}) == IntervalSchedule(seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"every": "5 m"},
            "spec.schedule.every: '5 m' is not a duration: use whole numbers with units d, h, m, s in that "
            "order, such as '30s', '5m' or '1h30m'",
        ),
        (
            {"every": "30m1h"},
            "spec.schedule.every: '30m1h' is not a duration: use whole numbers with units d, h, m, s in that "
            "order, such as '30s', '5m' or '1h30m'",
        ),
        ({"every": "0s"}, "spec.schedule.every: '0s' is too short: an interval is at least 1s"),
        ({"every": 30}, "spec.schedule.every: must be a duration such as '30s', '5m' or '1h30m', got 30"),
        ({}, "spec.schedule: 'every' is required"),
        (
            {"evry": "30s"},
            "spec.schedule: unknown field 'evry' (did you mean 'every'?); a schedule is a cron "
            "expression or {every: 30s}",
        ),
        (
            5,
            "spec.schedule: must be a cron expression such as '*/5 * * * *' or '@daily', or a mapping "
            "such as {every: 30s}; got 5",
        ),
    ],
)
def test_an_invalid_interval_is_explained(value: object, message: str) -> None:
    with pytest.raises(InvalidWorkflow) as error:
        parse_schedule(value)
    assert problem(error) == message


def test_duration_paths_follow_the_caller() -> None:
    with pytest.raises(InvalidWorkflow) as error:
        parse_duration("soon", "spec.x")
    assert problem(error).startswith("spec.x: 'soon' is not a duration")


def test_intervals_are_aligned_to_the_epoch() -> None:
    every, midnight = IntervalSchedule(30), at(2025, 1, 1)
    assert every.next_after(midnight + 1) == midnight + 30
    assert every.next_after(midnight + 30) == midnight + 60  # strictly after
    assert every.latest_at_or_before(midnight + 30) == midnight + 30
    assert every.latest_at_or_before(midnight + 29.9) == midnight
    assert every.text == "every 30s"
    assert IntervalSchedule(5400).text == "every 1h30m"


# ------------------------------------------------------------------ time zones


def test_an_unknown_time_zone_gets_a_hint() -> None:
    with pytest.raises(InvalidWorkflow) as error:
        parse_timezone("Europe/Pariss")
    assert problem(error) == (
        "spec.timezone: 'Europe/Pariss' is not a known IANA time zone (did you mean 'Europe/Paris'?); "
        "use a name such as 'Europe/Paris' or 'UTC'"
    )


@pytest.mark.parametrize("name", ["/etc/passwd", "../../etc/passwd", "Mars/Olympus_Mons"])
def test_paths_and_inventions_are_not_time_zones(name: str) -> None:
    with pytest.raises(InvalidWorkflow, match="is not a known IANA time zone"):
        parse_timezone(name)


def test_utc_is_the_plain_utc() -> None:
    assert parse_timezone("UTC") is UTC
    assert parse_timezone("Europe/Paris") == PARIS


# ------------------------------------------------------------------ slots


def test_cron_slots_are_read_in_the_time_zone() -> None:
    schedule = parse_cron("0 9 * * *", PARIS)
    winter = schedule.next_after(at(2025, 1, 15, 12))
    summer = schedule.next_after(at(2025, 7, 15, 12))
    assert local(winter, PARIS) == "2025-01-16T09:00:00+01:00"
    assert local(summer, PARIS) == "2025-07-16T09:00:00+02:00"
    assert winter == at(2025, 1, 16, 8)
    assert summer == at(2025, 7, 16, 7)


def test_spring_forward_a_time_in_the_gap_runs_right_after_the_change() -> None:
    """Paris skips 02:00-03:00 on 2025-03-30: a 02:30 job runs at 03:00, once (as Debian cron)."""
    schedule = parse_cron("30 2 * * *", PARIS)
    slots = [schedule.next_after(at(2025, 3, 29, 12))]
    for _ in range(2):
        slots.append(schedule.next_after(slots[-1] or 0))
    assert [local(slot, PARIS) for slot in slots] == [
        "2025-03-30T03:00:00+02:00",
        "2025-03-31T02:30:00+02:00",
        "2025-04-01T02:30:00+02:00",
    ]


def test_fall_back_a_fixed_time_in_the_repeated_hour_runs_once() -> None:
    """Paris repeats 02:00-03:00 on 2025-10-26: a 02:30 job runs in the first pass only."""
    schedule = parse_cron("30 2 * * *", PARIS)
    first = schedule.next_after(at(2025, 10, 25, 12))
    second = schedule.next_after(first or 0)
    assert local(first, PARIS) == "2025-10-26T02:30:00+02:00"
    assert local(second, PARIS) == "2025-10-27T02:30:00+01:00"


def test_fall_back_an_interval_like_expression_keeps_real_time() -> None:
    """`*/30` runs every 30 real minutes through the repeated hour: both passes."""
    schedule = parse_cron("*/30 * * * *", PARIS)
    slots = [schedule.next_after(at(2025, 10, 25, 23, 59))]
    for _ in range(4):
        slots.append(schedule.next_after(slots[-1] or 0))
    assert [local(slot, PARIS) for slot in slots] == [
        "2025-10-26T02:00:00+02:00",
        "2025-10-26T02:30:00+02:00",
        "2025-10-26T02:00:00+01:00",
        "2025-10-26T02:30:00+01:00",
        "2025-10-26T03:00:00+01:00",
    ]
    assert [b - a for a, b in itertools.pairwise(slots) if a and b] == [1800] * 4


def test_the_latest_slot_inside_a_repeated_hour() -> None:
    """New York repeats 01:00-02:00 on 2025-11-02. At 01:10 EST (second pass) the latest
    01:45 slot is today's, in the first pass (05:45 UTC), not yesterday's."""
    schedule = parse_cron("45 1 * * *", NEW_YORK)
    assert schedule.latest_at_or_before(at(2025, 11, 2, 6, 10)) == at(2025, 11, 2, 5, 45)
    assert schedule.latest_at_or_before(at(2025, 11, 2, 5, 40)) == at(2025, 11, 1, 5, 45)
    assert schedule.next_after(at(2025, 11, 2, 6, 10)) == at(2025, 11, 3, 6, 45)


@pytest.mark.parametrize(
    ("expression", "zone", "start"),
    [
        ("45 1 * * *", NEW_YORK, (2025, 11, 1)),
        ("15 1,2,3 * * *", NEW_YORK, (2025, 3, 8)),
        ("*/7 * * * *", PARIS, (2025, 10, 25)),
        ("30 2 * * *", PARIS, (2025, 3, 29)),
        ("0 */2 * * 1-5", PARIS, (2025, 10, 24)),
    ],
)
def test_latest_and_next_agree_across_dst_changes(
    expression: str, zone: ZoneInfo, start: tuple[int, int, int]
) -> None:
    """latest_at_or_before(t) is the last slot of the forward sequence at or before t."""
    schedule = parse_cron(expression, zone)
    begin = at(*start)
    slots: list[int] = []
    slot = schedule.next_after(begin)
    while slot is not None and slot < begin + 3 * 86400:
        slots.append(slot)
        slot = schedule.next_after(slot)
    assert slots == sorted(set(slots))
    for step in range(0, 3 * 86400 - 3600, 397):
        moment = begin + 3600 + step
        earlier = [s for s in slots if s <= moment]
        if earlier:
            assert schedule.latest_at_or_before(moment) == earlier[-1]
        following = [s for s in slots if s > moment]
        if following:
            assert schedule.next_after(moment) == following[0]


def test_slots_between_counts_missed_slots_with_a_limit() -> None:
    every = IntervalSchedule(5)
    assert list(every.slots_between(0, 20)) == [5, 10, 15]
    assert len(list(every.slots_between(0, 10_000, limit=100))) == 100
    daily = parse_cron("0 0 * * *", UTC)
    assert list(daily.slots_between(at(2025, 1, 1), at(2025, 1, 4))) == [at(2025, 1, 2), at(2025, 1, 3)]
