"""CronWorkflow scheduling, pure: schedules and their slots (cron in a time zone, or a
fixed interval), parsing with field paths, run names, and the decision of what to do
now (start, skip, revoke, trim history). No I/O: the operator does the doing."""

from kubecanvas.scheduling.planning import (
    CronPhase,
    Decision,
    Memory,
    Run,
    Skip,
    SkipReason,
    decide,
    decide_invalid,
    history_to_delete,
)
from kubecanvas.scheduling.run_names import format_slot, parse_slot, run_name, slot_from_name
from kubecanvas.scheduling.schedules import (
    CronSchedule,
    IntervalSchedule,
    Schedule,
    parse_cron,
    parse_duration,
    parse_schedule,
    parse_timezone,
)
from kubecanvas.scheduling.spec import CronSpec, parse_cron_spec, parse_cron_workflow, run_spec

__all__ = [
    "CronPhase",
    "CronSchedule",
    "CronSpec",
    "Decision",
    "IntervalSchedule",
    "Memory",
    "Run",
    "Schedule",
    "Skip",
    "SkipReason",
    "decide",
    "decide_invalid",
    "format_slot",
    "history_to_delete",
    "parse_cron",
    "parse_cron_spec",
    "parse_cron_workflow",
    "parse_duration",
    "parse_schedule",
    "parse_slot",
    "parse_timezone",
    "run_name",
    "run_spec",
    "slot_from_name",
]
