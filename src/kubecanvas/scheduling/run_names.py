"""Names and times of scheduled runs.

A run is named after its slot, `<cron-name>-<unix-seconds>`, so that creating the run
of one slot twice (a restarted operator, two replicas) is refused by the API server
with AlreadyExists instead of running twice.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from kubecanvas._kits.timestamps import from_rfc3339

__all__ = ["MAX_NAME", "format_slot", "parse_slot", "run_name", "slot_from_name"]

MAX_NAME = 253  # a Workflow's name is a DNS subdomain


def run_name(cron_name: str, slot: int) -> str:
    """`nightly-1735689600`; a long CronWorkflow name is cut and keeps a hash of itself."""
    suffix = f"-{slot}"
    if len(cron_name) + len(suffix) <= MAX_NAME:
        return cron_name + suffix
    digest = hashlib.sha256(cron_name.encode()).hexdigest()[:6]
    keep = MAX_NAME - len(suffix) - len(digest) - 1
    return f"{cron_name[:keep].rstrip('-.')}-{digest}{suffix}"


_SLOT_SUFFIX = re.compile(r"-(\d{1,12})$")


def slot_from_name(name: str) -> int | None:
    """The slot a run's name ends with, as `run_name` writes it."""
    match = _SLOT_SUFFIX.search(name)
    return int(match.group(1)) if match else None


def format_slot(slot: float) -> str:
    """RFC 3339 to the second, as Kubernetes writes times: `2025-01-01T00:00:00Z`."""
    return datetime.fromtimestamp(int(slot), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_slot(text: object) -> float | None:
    """An RFC 3339 time as epoch seconds; None for a missing or unreadable one."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return from_rfc3339(text)
    except ValueError:
        return None
