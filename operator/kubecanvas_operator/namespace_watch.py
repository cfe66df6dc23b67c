"""Serving a namespace that appears while kopf starts, not five minutes later.

With namespace patterns (`--namespace 't-*'`), kopf's namespace observer lists the
namespaces once to fill its insights, then starts a watcher; the watcher lists them again
before it watches, and that second listing arrives as events of type None, which
`process_discovered_namespace_event` drops (kopf 1.45.2, `_core/reactor/observation.py`:
"Ignore the initial listing"). A namespace created between the two listings is in
neither: kopf serves it only once it changes or the watch is listed again. Seen on the
local cluster: a namespace created 0.1 s after the operator answered its health check had
its Workflow admitted 301 s later.

`install()` makes the observer take what that second listing shows too: a listed
namespace that matches a pattern and is not known yet is added, exactly as its ADDED
event would have added it. One that is already known (every namespace, normally) costs a
set lookup and wakes nobody, so a cluster of many namespaces does not wake kopf's
orchestrator once per namespace at start.
"""

from __future__ import annotations

from typing import Any

from kopf._cogs.structs import references
from kopf._core.reactor import observation

__all__ = ["install", "installed"]

_ORIGINAL = observation.process_discovered_namespace_event


async def _process_discovered_namespace_event(
    *,
    raw_event: Any,
    namespaces: Any,
    insights: references.Insights,
    **kwargs: Any,
) -> None:
    if raw_event["type"] is not None:
        await _ORIGINAL(raw_event=raw_event, namespaces=namespaces, insights=insights, **kwargs)
        return
    if raw_event["object"]["metadata"]["name"] in insights.namespaces:
        return
    async with insights.revised:
        known = len(insights.namespaces)
        observation.revise_namespaces(
            raw_bodies=[raw_event["object"]], insights=insights, namespaces=namespaces
        )
        if len(insights.namespaces) != known:
            insights.revised.notify_all()


def install() -> None:
    """Replace kopf's handler of discovered namespaces (the observer looks it up when it
    starts, so this must run before `kopf.operator`); calling it again changes nothing."""
    observation.process_discovered_namespace_event = _process_discovered_namespace_event


def installed() -> bool:
    return observation.process_discovered_namespace_event is _process_discovered_namespace_event
