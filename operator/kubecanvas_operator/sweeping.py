"""Removing Redis state of Workflows that no longer exist.

Deletion is normally seen as it happens. This sweep catches what the operator missed
while it was down: every few minutes, the keys of workflows whose object is gone are
deleted. Only workflows in namespaces this operator watches are touched, and only
after a grace period, so a workflow being created right now is never swept.
"""

from __future__ import annotations

import asyncio
import logging
import time

from kubecanvas.errors import KubeApiError
from kubecanvas.store.hostside import WorkflowStore
from kubecanvas_operator.config import OperatorConfig
from kubecanvas_operator.kube import KubeApi

__all__ = ["sweep_once", "sweep_orphans"]

logger = logging.getLogger(__name__)

INTERVAL = 300.0
GRACE = 600.0


async def sweep_once(api: KubeApi, store: WorkflowStore, config: OperatorConfig, now: float) -> int:
    """Delete the state of vanished workflows; return how many were removed."""
    existing = await api.list_workflow_uids(config.listable_namespaces)
    removed = 0
    async for uid, meta in store.workflows():
        if uid in existing or not config.watches(meta.namespace):
            continue
        if meta.created_at is not None and now - meta.created_at < GRACE:
            continue
        await store.delete(uid)
        removed += 1
    return removed


async def sweep_orphans(api: KubeApi, store: WorkflowStore, config: OperatorConfig) -> None:
    while True:
        await asyncio.sleep(INTERVAL)
        try:
            removed = await sweep_once(api, store, config, time.time())
            if removed:
                logger.info("removed the Redis state of %d deleted workflows", removed)
        except asyncio.CancelledError:
            raise
        except (KubeApiError, OSError, Exception):
            logger.exception("orphan sweep failed; trying again in %.0fs", INTERVAL)
