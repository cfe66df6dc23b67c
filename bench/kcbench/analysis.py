"""Turning raw timings, logs and profiles into figures."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "distribution",
    "folded_profile",
    "importtime_summary",
    "percentile",
]


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def distribution(values: Iterable[float], scale: float = 1000.0) -> dict[str, float]:
    """p50, p95, max, mean and count, in milliseconds by default."""
    data = [value * scale for value in values if value is not None and not math.isnan(value)]
    if not data:
        return {"n": 0}
    return {
        "n": len(data),
        "p50": round(percentile(data, 50), 1),
        "p95": round(percentile(data, 95), 1),
        "max": round(max(data), 1),
        "min": round(min(data), 1),
        "mean": round(sum(data) / len(data), 1),
    }


# ------------------------------------------------------------------ py-spy


@dataclass
class Profile:
    samples: int = 0
    inclusive: Counter[str] = field(default_factory=Counter)
    own: Counter[str] = field(default_factory=Counter)
    threads: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)

    def top(self, limit: int = 15) -> dict[str, object]:
        if not self.samples:
            return {"samples": 0}

        def share(count: int) -> float:
            return round(100 * count / self.samples, 1)

        # The event loop's and the thread pool's own frames are on every stack: they say nothing.
        telling = [(f, c) for f, c in self.inclusive.most_common() if not f.endswith(_PLUMBING)]
        return {
            "samples": self.samples,
            "roots_percent": {name: share(count) for name, count in self.threads.most_common(4)},
            "categories_percent": {name: share(count) for name, count in self.categories.most_common()},
            "inclusive_percent": {frame: share(count) for frame, count in telling[:limit]},
            "self_percent": {frame: share(count) for frame, count in self.own.most_common(limit)},
        }


_PLUMBING = (
    "(asyncio/base_events.py)",
    "(asyncio/runners.py)",
    "(asyncio/events.py)",
    "(threading.py)",
    "(kubecanvas-operator)",
    "main (kubecanvas_operator/__main__.py)",
    "(concurrent/futures/thread.py)",
)

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _frame(text: str) -> str:
    match = _FRAME.match(text)
    if match is None:
        return text
    path = match["file"]
    for marker in ("site-packages/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['func']} ({path})"


_CATEGORIES = (
    # (name, a frame matches if it starts with one of these, or contains one of these)
    ("kopf: per-event processing of watched objects", ("process_resource_event (kopf/",), ()),
    ("kopf: diff-base and deep copies", ("DiffBaseStorage.build (kopf/", "deepcopy (copy.py)"), ()),
    ("kopf: watch streams", ("infinite_watch (kopf/",), ()),
    ("Kubernetes client calls (thread pool)", ("ApiClient.call_api (kubernetes/",), ()),
    ("JSON encode/decode", ("JSONDecoder.raw_decode", "JSONEncoder."), ()),
    ("TLS (ssl)", (), ("(ssl.py)",)),
    ("kubecanvas operator code", (), ("(kubecanvas_operator/conductor", "(kubecanvas_operator/stream")),
    ("kubecanvas engine and store", (), ("(kubecanvas/engine/", "(kubecanvas/store/")),
    ("Redis client", (), ("(redis/",)),
)


def _categories(code: list[str]) -> set[str]:
    found: set[str] = set()
    for name, prefixes, fragments in _CATEGORIES:
        for frame in code:
            if frame.startswith(prefixes) or any(fragment in frame for fragment in fragments):
                found.add(name)
                break
    return found


def folded_profile(path: Path) -> Profile:
    """Parse py-spy's `--format raw` output: `frame;frame;... count` per line, root first."""
    profile = Profile()
    if not path.exists():
        return profile
    for line in path.read_text(errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack_text.split(";")
        code = [_frame(f) for f in frames if not f.startswith(("process ", "thread "))]
        if not code:
            continue
        profile.samples += count
        # The event loop's stacks start at the script; the thread pool's (the Kubernetes
        # client's synchronous calls) at threading's bootstrap.
        root = (
            "event loop"
            if "kubecanvas-operator" in code[0]
            else "threads"
            if "threading" in code[0]
            else code[0]
        )
        profile.threads[root] += count
        for category in _categories(code):
            profile.categories[category] += count
        for frame in set(code):
            profile.inclusive[frame] += count
        profile.own[code[-1]] += count
    return profile


# ------------------------------------------------------------------ python -X importtime

_IMPORT_LINE = re.compile(
    r"^import time:\s+(?P<self>\d+) \|\s+(?P<cumulative>\d+) \|(?P<indent> *)(?P<name>\S+)"
)


def importtime_summary(text: str, limit: int = 12) -> dict[str, object]:
    """From `-X importtime`: the total (the top-level imports' cumulative times), the
    top-level imports by cumulative time, and the modules with the most time of their
    own (ms)."""
    top: list[tuple[str, float]] = []
    own: list[tuple[str, float]] = []
    for line in text.splitlines():
        match = _IMPORT_LINE.match(line)
        if match is None:
            continue
        own.append((match["name"], int(match["self"]) / 1000))
        if len(match["indent"]) == 1:  # a top-level import (its children are indented further)
            top.append((match["name"], int(match["cumulative"]) / 1000))
    ranked_top = sorted(top, key=lambda item: -item[1])[:limit]
    ranked_own = sorted(own, key=lambda item: -item[1])[:limit]
    return {
        "total_ms": round(sum(ms for _, ms in top), 1),
        "modules": len(own),
        "top_level_cumulative_ms": {name: round(ms, 1) for name, ms in ranked_top},
        "largest_self_ms": {name: round(ms, 1) for name, ms in ranked_own},
    }


# ------------------------------------------------------------------ the operator's log

_LOG_LEVEL = re.compile(r"^\S+ \S+ (?P<level>WARNING|ERROR|CRITICAL)\s+(?P<logger>\S+): (?P<message>.*)$")


def log_findings(path: Path, offset: int = 0, limit: int = 8) -> dict[str, object]:
    """Warnings and errors in the operator's log from `offset` on, grouped by their first
    words (numbers and names blanked), most frequent first."""
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    groups: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for line in text.splitlines():
        match = _LOG_LEVEL.match(line)
        if match is None:
            continue
        shape = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|\d+|\"[^\"]*\"|'[^']*'", "…", match["message"])[:140]
        key = f"{match['level']} {match['logger']}: {shape}"
        groups[key] += 1
        examples.setdefault(key, match["message"][:400])
    return {
        "warnings_and_errors": sum(groups.values()),
        "by_kind": [
            {"count": count, "kind": key, "example": examples[key]}
            for key, count in groups.most_common(limit)
        ],
    }
