"""The Celery side of the comparison: the same no-op, add and sum tasks as benchtasks.py.

The worker imports this module (`celery -A kcbench.celeryapp worker`); the broker and
the result backend are the cluster's redis-server on a database of their own
(`KCBENCH_CELERY_URL`). `hop` records its own start and end times in its result, so
that a chain's hop latency is end(previous) -> start(next), as for kubecanvas.
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery  # type: ignore[import-untyped]

__all__ = ["add", "app", "configure", "hop", "noop", "tsum"]

QUEUE = "kcbench"

app = Celery("kcbench")


def configure(url: str) -> None:
    app.conf.update(
        broker_url=url,
        result_backend=url,
        task_default_queue=QUEUE,
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )


configure(os.environ.get("KCBENCH_CELERY_URL", "redis://127.0.0.1:6379/15"))


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def _add(x: Any, y: Any) -> Any:
    return x + y


def _tsum(nums: list[Any]) -> Any:
    return sum(nums)


def _hop(times: list[list[float]] | None = None) -> list[list[float]]:
    """A chain link that appends [its start, its end] to the list its parent returned."""
    started = time.time()
    recorded = list(times or [])
    recorded.append([started, time.time()])
    return recorded


noop: Any = app.task(name="kcbench.noop")(_noop)
add: Any = app.task(name="kcbench.add")(_add)
tsum: Any = app.task(name="kcbench.tsum")(_tsum)
hop: Any = app.task(name="kcbench.hop")(_hop)
