"""kopf handlers: thin translations from kopf's callbacks to the conductor.

Plain functions: `wiring.build_registry` registers them, nothing here does on import.

No finalizer is put on Workflows: deletion is seen as a watch event, and anything it
missed (the operator was down) is swept later by the orphan collector. A finalizer
would leave Workflows stuck in Terminating whenever the operator is uninstalled.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from kubecanvas.client.credentials import kube_configuration
from kubecanvas.resources import GROUP
from kubecanvas.store.hostside import WorkflowStore, connect_async
from kubecanvas_operator.conductor import Conductor
from kubecanvas_operator.config import OperatorConfig
from kubecanvas_operator.diffbase import DigestedDiffBaseStorage
from kubecanvas_operator.httpapi import serve_http
from kubecanvas_operator.k8sevents import EventPoster
from kubecanvas_operator.kube import KubeApi
from kubecanvas_operator.memo import OperatorMemo, Services
from kubecanvas_operator.metrics import OperatorMetrics
from kubecanvas_operator.reconciling import reconcile_forever
from kubecanvas_operator.stream import consume_events, consumer_name, until_redis_answers
from kubecanvas_operator.sweeping import sweep_orphans

logger = logging.getLogger(__name__)


def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    """kopf's own connection (its watches, patches, Events), by the same rule as the
    operator's API adapter and the CLI (kubecanvas.client.credentials); kopf's default
    login tries the pod's service account first, even when $KUBECONFIG names a file."""
    configuration = kube_configuration()
    header = configuration.get_api_key_with_prefix("BearerToken") or configuration.get_api_key_with_prefix(
        "authorization"
    )
    parts = header.split(" ", 1) if header else []
    scheme, token = (
        (None, None) if not parts else (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    )
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        username=configuration.username or None,
        password=configuration.password or None,
        scheme=scheme or None,
        token=token or None,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        trust_env=settings.networking.trust_env,
    )


async def start(settings: kopf.OperatorSettings, memo: OperatorMemo, **_: Any) -> None:
    config: OperatorConfig = memo.config
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = DigestedDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # our own Events only, not kopf's handler chatter
    settings.posting.reporting_component = "kubecanvas-operator"
    # Pods matter only while they have not started (a bad image, a missing Secret: on_pod);
    # the news of every other pod comes from its Job and from Redis. Filtering on the server
    # spares the operator most pod events, the busiest watch it has.
    settings.watching.field_selectors["", "v1", "pods"] = "status.phase=Pending"
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    metrics = OperatorMetrics()
    api = KubeApi(config.api_concurrency, counted=metrics.api_call)
    store = WorkflowStore(
        connect_async(config.redis_url, config.redis_password, ca=config.redis_ca), config.events_stream
    )
    await until_redis_answers(store)
    events = EventPoster(api)
    events.start()
    conductor = Conductor(api, store, config, notify=events.post, observe=metrics.observer(memo.observe))
    metrics.attach(conductor.engines)
    memo.services = Services(api, store, conductor, events, metrics)
    memo.services.background = [
        asyncio.create_task(consume_events(store, conductor, config.consumer_group, consumer_name())),
        asyncio.create_task(sweep_orphans(api, store, config)),
        asyncio.create_task(reconcile_forever(conductor, config.reconcile_interval)),
        asyncio.create_task(serve_http(metrics)),  # /healthz, /metrics
    ]
    logger.info("kubecanvas operator started (redis %s, stream %s)", config.redis_url, config.events_stream)


async def stop(memo: OperatorMemo, **_: Any) -> None:
    services, memo.services = memo.services, None
    if services is None:
        return
    for task in services.background:
        task.cancel()
    services.events.stop()
    await services.conductor.close()
    await services.store.client.aclose()
    services.api.close()


async def admit(body: kopf.Body, memo: OperatorMemo, **_: Any) -> None:
    await memo.started.conductor.admit(body)


async def revoke(new: Any, body: kopf.Body, memo: OperatorMemo, **_: Any) -> None:
    if new:
        await memo.started.conductor.revoke(body["metadata"]["uid"])


async def refuse_spec_changes(diff: kopf.Diff, body: kopf.Body, **_: Any) -> None:
    # Top-level fields only: the bulky ones are digests in the diff base (diffbase.py).
    changed = sorted({str(path[0]) for _op, path, *_rest in diff if path} - {"revoke"})
    if changed:
        kopf.warn(
            body,
            reason="SpecImmutable",
            message="a Workflow cannot change once created (spec.revoke aside); ignored: "
            + ", ".join(f"spec.{path}" for path in changed),
        )


async def deleted(event: kopf.RawEvent, memo: OperatorMemo, **_: Any) -> None:
    if event["type"] == "DELETED":
        await memo.started.conductor.forget(event["object"]["metadata"]["uid"])


async def job_changed(event: kopf.RawEvent, memo: OperatorMemo, **_: Any) -> None:
    await memo.started.conductor.on_job(event["type"] or "MODIFIED", event["object"])


async def pod_changed(event: kopf.RawEvent, memo: OperatorMemo, **_: Any) -> None:
    # The watch shows Pending pods only (start): a pod that started leaves it as DELETED.
    await memo.started.conductor.on_pod(event["object"], gone=event["type"] == "DELETED")


def running_workflows(memo: OperatorMemo, **_: Any) -> int:
    return len(memo.services.conductor.runs) if memo.services else 0
