"""Wall-clock times as float epoch seconds inside, RFC 3339 strings outside."""

from __future__ import annotations

from datetime import UTC, datetime


def to_rfc3339(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_rfc3339(text: str) -> float:
    """Parse an RFC 3339 timestamp; a missing offset is refused rather than guessed."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no timezone offset (add 'Z' for UTC)")
    return moment.timestamp()
