"""Kubernetes Events on Workflows: failures, retries, errbacks, completion.

Posted in the background (never on the hot path) and rate-limited per Workflow: a
10,000-task workflow whose tasks all retry must not write 10,000 Events to etcd. A
repeated event (same reason and message) is folded into one with a count, as the
kubelet does.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubecanvas._kits.timestamps import to_rfc3339
from kubecanvas.errors import KubeApiError
from kubecanvas_operator.kube import KubeApi

__all__ = ["EventPoster"]

logger = logging.getLogger(__name__)

COMPONENT = "kubecanvas-operator"


@dataclass
class _Budget:
    """Events left for one object in the current window."""

    window_start: float = 0.0
    left: int = 0
    dropped: int = 0
    counts: dict[str, int] = field(default_factory=dict)


class EventPoster:
    def __init__(self, api: KubeApi, *, per_window: int = 25, window: float = 60.0) -> None:
        self.api = api
        self.per_window = per_window
        self.window = window
        self._queue: asyncio.Queue[tuple[dict[str, Any], str, str, str]] = asyncio.Queue(maxsize=10_000)
        self._budgets: dict[str, _Budget] = {}
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._worker = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    def post(self, reference: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        """Queue an Event about `reference` (apiVersion, kind, metadata name/namespace/uid)."""
        uid = reference["metadata"].get("uid", "")
        budget = self._budgets.setdefault(uid, _Budget())
        now = time.monotonic()
        if now - budget.window_start > self.window:
            if budget.dropped:
                logger.info("%d events about %s were not posted (rate limit)", budget.dropped, uid)
            budget.window_start, budget.left, budget.dropped = now, self.per_window, 0
        if budget.left <= 0 and kind != "Warning" and "Workflow" not in reason:
            budget.dropped += 1
            return
        budget.left -= 1
        try:
            self._queue.put_nowait((dict(reference), kind, reason, message))
        except asyncio.QueueFull:
            budget.dropped += 1

    def forget(self, uid: str) -> None:
        self._budgets.pop(uid, None)

    async def _run(self) -> None:
        while True:
            reference, kind, reason, message = await self._queue.get()
            try:
                await self._post(reference, kind, reason, message)
            except asyncio.CancelledError:
                raise
            except (KubeApiError, OSError) as error:
                logger.warning(
                    "cannot post event %s on %s: %s", reason, reference["metadata"].get("name"), error
                )

    async def _post(self, reference: dict[str, Any], kind: str, reason: str, message: str) -> None:
        metadata = reference["metadata"]
        namespace = metadata.get("namespace") or "default"
        digest = hashlib.sha256(f"{metadata.get('uid')}/{reason}/{message}".encode()).hexdigest()[:12]
        name = f"{metadata['name'][:200]}.{digest}"
        budget = self._budgets.setdefault(metadata.get("uid", ""), _Budget())
        count = budget.counts.get(name, 0) + 1
        budget.counts[name] = count
        now = to_rfc3339(time.time())
        involved = {
            "apiVersion": reference["apiVersion"],
            "kind": reference["kind"],
            "name": metadata["name"],
            "namespace": namespace,
            "uid": metadata.get("uid"),
        }
        body = {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "type": kind,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": COMPONENT,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": count,
        }
        if count == 1:
            await self.api.ensure(self.api.core.create_namespaced_event, namespace, body)
        else:
            await self.api.patch_event(namespace, name, {"count": count, "lastTimestamp": now})
