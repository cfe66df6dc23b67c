"""CronWorkflows: one schedule task per CronWorkflow sleeps until its next slot.

The task is the only one to act on its CronWorkflow (so there are no races between
handlers): it reconciles, then sleeps until the next slot, or until woken by news:
a spec change (a new `metadata.generation`: schedule, suspend, limits...) or a change
of phase of one of its runs (to update `status.active` and trim the history at once).
It also looks again every few minutes whatever happens, in case a watch missed news.

The tasks are started and stopped from the CronWorkflow watch rather than as kopf
daemons, because kopf guards daemons with a finalizer: a CronWorkflow (or its
namespace) deleted while no operator runs, after an uninstall say, would then hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

import kopf

from kubecanvas.errors import KubeApiError
from kubecanvas_operator.cron_reconciler import CronReconciler, ReconcileResult, owner_uid
from kubecanvas_operator.memo import CronWatch, OperatorMemo

__all__ = ["cron_changed", "run_changed", "stop_cron"]

MAX_SLEEP = 300.0  # look again at least this often, news or not
RETRY_SECONDS = 10.0  # after an error
SLOT_LATENESS = 0.05  # wake this long after a slot, never before it

logger = logging.getLogger(__name__)


async def stop_cron(memo: OperatorMemo, **_: Any) -> None:
    for watch in list(_watches(memo).values()):
        if watch.task is not None:
            watch.task.cancel()


async def cron_changed(event: kopf.RawEvent, memo: OperatorMemo, **_: Any) -> None:
    """Start a CronWorkflow's schedule task when it first appears (at start-up too), stop
    it when the CronWorkflow goes, wake it when its spec changes (status writes, ours,
    do not change the generation)."""
    metadata = event["object"].get("metadata") or {}
    uid = str(metadata.get("uid"))
    watches = _watches(memo)
    watch = watches.get(uid)
    if event["type"] == "DELETED" or metadata.get("deletionTimestamp"):
        if watch is not None and watch.task is not None:
            watch.task.cancel()
        return
    if watch is None:
        watch = watches[uid] = CronWatch()
        namespace, name = str(metadata["namespace"]), str(metadata["name"])
        watch.task = asyncio.create_task(
            _run_schedule(uid, namespace, name, watch, memo), name=f"cron {namespace}/{name}"
        )
    elif metadata.get("generation") != watch.generation:
        watch.wake.set()


async def _run_schedule(uid: str, namespace: str, name: str, watch: CronWatch, memo: OperatorMemo) -> None:
    reconciler = CronReconciler(memo.started.api, notify=_notifier(memo))
    watches = _watches(memo)
    try:
        while True:
            watch.wake.clear()
            try:
                outcome = await reconciler.reconcile(namespace, name, uid)
            except asyncio.CancelledError:
                raise
            except (KubeApiError, OSError) as error:
                logger.warning("cronworkflow %s/%s: %s; retrying soon", namespace, name, error)
                outcome = ReconcileResult(wake_at=time.time() + RETRY_SECONDS)
            except Exception:  # a bug must not stop the schedule for good
                logger.exception("cronworkflow %s/%s: reconciliation failed", namespace, name)
                outcome = ReconcileResult(wake_at=time.time() + RETRY_SECONDS)
            if outcome.gone:
                return
            if outcome.generation is not None:
                watch.generation = outcome.generation
                watch.phases = outcome.phases
            delay = MAX_SLEEP if outcome.wake_at is None else outcome.wake_at - time.time() + SLOT_LATENESS
            await _sleep(watch.wake, min(max(delay, 0.0), MAX_SLEEP))
    finally:
        if watches.get(uid) is watch:
            del watches[uid]


async def run_changed(event: kopf.RawEvent, memo: OperatorMemo, **_: Any) -> None:
    """A run that appeared, changed phase or went away wakes its CronWorkflow's task."""
    body = event["object"]
    watch = _watches(memo).get(owner_uid(body) or "")
    if watch is None:
        return
    name = (body.get("metadata") or {}).get("name")
    if event["type"] == "DELETED":
        news = name in watch.phases
    else:
        news = name not in watch.phases or watch.phases[name] != (body.get("status") or {}).get("phase")
    if news:
        watch.wake.set()


async def _sleep(wake: asyncio.Event, seconds: float) -> None:
    """Until `seconds` pass or news arrives (cancelling the task ends the sleep too)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout=seconds)


def _watches(memo: OperatorMemo) -> dict[str, CronWatch]:
    return memo.cron_watches


def _notifier(memo: OperatorMemo) -> Any:
    if memo.services is not None:
        return memo.services.events.post

    def log_only(reference: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        logger.info("%s %s on %s: %s", kind, reason, reference["metadata"].get("name"), message)

    return log_only
