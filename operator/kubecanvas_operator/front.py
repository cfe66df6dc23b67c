"""What every replica serves, leading or standing by: the admission webhook and the results API.

Neither changes a workflow: the webhook reads the object under review and asks the API
server about its author's rights, the results API reads Redis. So in HA mode (`__main__`,
`--leader-elect`) each replica serves them from start to stop, in a kopf of their own that
watches nothing, while only the leader runs the operator proper. A takeover then leaves
`kubectl apply` and `kubecanvas get` answered by the other replicas: with the webhook's
`failurePolicy: Fail`, a webhook served by the leader alone refused every apply until a
standby had taken the Lease and started.

Plain functions: `wiring.build_registry` registers them, nothing here does on import.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubecanvas.errors import KubeApiError
from kubecanvas.store.hostside import WorkflowStore, connect_async
from kubecanvas_operator.kube import KubeApi
from kubecanvas_operator.memo import Front, OperatorMemo
from kubecanvas_operator.resultsapi import serve_results_api

__all__ = ["start", "stop"]

logger = logging.getLogger(__name__)


async def start(memo: OperatorMemo, **_: Any) -> None:
    config = memo.config
    api = KubeApi(config.api_concurrency)
    # Connected on first use: the results API answers 503 while Redis is away, and the
    # webhook never needs it, so nothing here waits for Redis.
    store = WorkflowStore(
        connect_async(config.redis_url, config.redis_password, ca=config.redis_ca), config.events_stream
    )
    front = Front(api, store)
    try:
        front.identity = await api.whoami()
    except KubeApiError as error:
        logger.warning(
            "cannot tell which user this operator acts as (%s): its cron runs get author checks", error
        )
    # workflowresults.results.kubecanvas.io, through the API server's aggregation layer
    front.background = [asyncio.create_task(serve_results_api(api, store, config))]
    memo.front = front


async def stop(memo: OperatorMemo, **_: Any) -> None:
    front, memo.front = memo.front, None
    if front is None:
        return
    for task in front.background:
        task.cancel()
    await asyncio.gather(*front.background, return_exceptions=True)
    await front.store.client.aclose()
    front.api.close()
