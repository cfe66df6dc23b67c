"""A namespace that kopf's watcher only lists (created while the operator starts) is served.

The end-to-end proof, against the real API server, is
tests/e2e/test_operator_start.py; these pin the rule and the kopf behaviour it corrects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from kopf._cogs.structs import references
from kopf._core.reactor import observation

from kubecanvas_operator import namespace_watch

PATTERNS = ["t-*", "exact"]


def listed(name: str, **metadata: Any) -> Any:
    return {"type": None, "object": {"metadata": {"name": name, **metadata}}}


@pytest.fixture
def patched() -> Iterator[None]:
    original = observation.process_discovered_namespace_event
    namespace_watch.install()
    yield
    observation.process_discovered_namespace_event = original


async def discover(insights: references.Insights, *events: Any) -> bool:
    """Feed events as kopf's observer does (looking the handler up in its module); say
    whether anyone waiting on the insights was woken."""
    woken = asyncio.Event()

    async def waiter() -> None:
        async with insights.revised:
            ready.set()
            await insights.revised.wait()
            woken.set()

    ready = asyncio.Event()
    waiting = asyncio.create_task(waiter())
    await ready.wait()
    for event in events:
        await observation.process_discovered_namespace_event(
            raw_event=event, namespaces=PATTERNS, insights=insights
        )
    await asyncio.sleep(0.01)
    waiting.cancel()
    return woken.is_set()


def test_kopf_alone_drops_a_namespace_its_watcher_only_lists() -> None:
    """What the fix is for. When this fails, kopf serves listed namespaces itself and
    `namespace_watch` can go."""
    insights = references.Insights()
    asyncio.run(discover(insights, listed("t-created-while-starting")))
    assert insights.namespaces == set()


def test_a_listed_namespace_matching_a_pattern_is_served(patched: None) -> None:
    insights = references.Insights()
    woken = asyncio.run(discover(insights, listed("t-created-while-starting"), listed("exact")))
    assert insights.namespaces == {"t-created-while-starting", "exact"}
    assert woken  # kopf's orchestrator starts the namespace's watchers when woken


def test_a_listed_namespace_matching_no_pattern_is_not(patched: None) -> None:
    insights = references.Insights()
    woken = asyncio.run(discover(insights, listed("c-chart-install"), listed("exactly")))
    assert insights.namespaces == set()
    assert not woken


def test_a_listed_namespace_already_served_wakes_nobody(patched: None) -> None:
    insights = references.Insights(namespaces={"t-known"})
    assert not asyncio.run(discover(insights, listed("t-known")))
    assert insights.namespaces == {"t-known"}


def test_a_listed_namespace_being_deleted_is_not_served(patched: None) -> None:
    insights = references.Insights()
    going = listed("t-going", deletionTimestamp="2026-12-04T23:00:00Z")
    # kopf's rule: marked for deletion, with conditions that no longer block it
    going["object"]["status"] = {"conditions": [{"type": "NamespaceContentRemaining", "status": "False"}]}
    asyncio.run(discover(insights, going))
    assert insights.namespaces == set()


def test_watch_events_still_go_to_kopf(patched: None) -> None:
    insights = references.Insights(namespaces={"t-going"})
    added = {"type": "ADDED", "object": {"metadata": {"name": "t-new"}}}
    deleted = {"type": "DELETED", "object": {"metadata": {"name": "t-going"}}}
    assert asyncio.run(discover(insights, added, deleted))
    assert insights.namespaces == {"t-new"}


def test_installing_twice_keeps_one_wrapper(patched: None) -> None:
    namespace_watch.install()
    assert namespace_watch.installed()
    insights = references.Insights()
    asyncio.run(discover(insights, listed("t-once")))
    assert insights.namespaces == {"t-once"}
