"""Leader election with a Lease: in HA mode, only one replica runs the operator.

kopf's peering pauses the handlers of standby replicas, but the operator also runs work
of its own (the Redis stream consumer, timers, the orphan sweeper), and two replicas
acting on one workflow would launch its tasks twice. So a replica first takes a
`coordination.k8s.io` Lease and starts nothing before it holds it; it renews the Lease
while it runs and exits if it cannot (a restarted pod goes back to standing by). This
is the pattern of client-go's leader election, kept deliberately small.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from kubecanvas._kits.timestamps import from_rfc3339, to_rfc3339
from kubecanvas.errors import KubeApiError
from kubecanvas_operator.kube import KubeApi

__all__ = ["LeadershipLost", "LeaseElection", "answering_probes_while"]

T = TypeVar("T")

logger = logging.getLogger(__name__)


class LeadershipLost(RuntimeError):
    """The Lease could not be renewed in time: another replica may lead now."""


@dataclass
class LeaseElection:
    api: KubeApi
    namespace: str
    name: str
    identity: str
    lease_seconds: int = 15
    renew_every: float = 5.0
    retry_every: float = 2.0

    async def acquire(self) -> None:
        """Wait until this replica holds the Lease."""
        announced = False
        while True:
            if await self._try_to_hold():
                logger.info("leading as %s (lease %s/%s)", self.identity, self.namespace, self.name)
                return
            if not announced:
                logger.info("standing by: lease %s/%s is held by another replica", self.namespace, self.name)
                announced = True
            await asyncio.sleep(self.retry_every)

    async def keep(self) -> None:
        """Renew the Lease until cancelled; raise LeadershipLost if it slips away."""
        last_renewed = time.monotonic()
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                if await self._try_to_hold():
                    last_renewed = time.monotonic()
                    continue
                raise LeadershipLost(f"lease {self.namespace}/{self.name} was taken by another replica")
            except KubeApiError as error:
                logger.warning("cannot renew lease %s/%s: %s", self.namespace, self.name, error)
            if time.monotonic() - last_renewed > self.lease_seconds:
                where = f"{self.namespace}/{self.name}"
                raise LeadershipLost(f"lease {where} not renewed for {self.lease_seconds}s")

    async def release(self) -> None:
        """Let a standby take over at once rather than after the Lease expires."""
        lease = await self._read()
        if lease is not None and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
            lease["spec"]["holderIdentity"] = None
            lease["spec"]["leaseDurationSeconds"] = 1
            try:
                await self._replace(lease)
            except KubeApiError as error:
                logger.warning("cannot release lease %s/%s: %s", self.namespace, self.name, error)

    async def _try_to_hold(self) -> bool:
        now = time.time()
        lease = await self._read()
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.lease_seconds,
            "renewTime": _micro_time(now),
        }
        if lease is None:
            spec["acquireTime"] = _micro_time(now)
            body = {"metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec}
            try:
                await self.api.create_lease(self.namespace, body)
            except KubeApiError as error:
                if error.status == 409:
                    return False  # someone created it first
                raise
            return True
        current = lease.get("spec") or {}
        holder = current.get("holderIdentity")
        if holder and holder != self.identity and not _expired(current, now):
            return False
        if holder != self.identity:
            spec["acquireTime"] = _micro_time(now)
            spec["leaseTransitions"] = int(current.get("leaseTransitions") or 0) + 1
        lease["spec"] = {**current, **spec}
        try:
            await self._replace(lease)  # optimistic: the resourceVersion must still match
        except KubeApiError as error:
            if error.status == 409:
                return False
            raise
        return True

    async def _read(self) -> dict[str, Any] | None:
        return await self.api.get_lease(self.namespace, self.name)

    async def _replace(self, lease: dict[str, Any]) -> None:
        await self.api.replace_lease(self.namespace, self.name, lease)


async def answering_probes_while(waiting: Awaitable[T], liveness_url: str) -> T:
    """Answer the pod's probes (on kopf's liveness address) while `waiting` runs: a standby
    replica is healthy, and its port is handed back to kopf once it leads."""
    address = urlsplit(liveness_url)
    path = address.path or "/"

    async def healthy(request: web.Request) -> web.Response:
        return web.json_response({"standby": True})

    app = web.Application()
    app.router.add_get(path, healthy)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, address.hostname or "0.0.0.0", address.port or 80).start()  # noqa: S104
    try:
        return await waiting
    finally:
        await runner.cleanup()


def _expired(spec: dict[str, Any], now: float) -> bool:
    renewed = spec.get("renewTime") or spec.get("acquireTime")
    if not renewed:
        return True
    return from_rfc3339(renewed) + float(spec.get("leaseDurationSeconds") or 0) < now


def _micro_time(epoch: float) -> str:
    """MicroTime, as Leases want it: RFC 3339 with microseconds."""
    text = to_rfc3339(epoch) or ""
    return text.replace("Z", "000Z") if text.endswith("Z") and "." in text else text
