"""Looking again at every running workflow, periodically.

News can be lost without anyone noticing: a Job created while the API server was down, a
Job event whose handler failed during a Redis blip (kopf does not replay it), a watch gap
after an outage, a report whose stream entry the operator never read. Each would leave a
workflow Running forever. Every `reconcile_interval` seconds the conductor compares what
each running workflow's engine believes in flight with Redis and Kubernetes
(`Conductor.reconcile_running`) and catches up.
"""

from __future__ import annotations

import asyncio
import logging

from kubecanvas_operator.conductor import Conductor

__all__ = ["reconcile_forever"]

logger = logging.getLogger(__name__)


async def reconcile_forever(conductor: Conductor, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await conductor.reconcile_running()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - a loop that must outlive an outage
            logger.warning(
                "periodic reconcile failed (%s: %s); trying again in %.0fs",
                type(error).__name__,
                error,
                interval,
            )
