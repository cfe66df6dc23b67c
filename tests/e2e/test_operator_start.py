"""A namespace created while the operator starts is served at once, not when kopf lists again.

kopf lists the namespaces twice at start (its observer, then its watcher) and ignored what
only the second listing showed: a namespace created between the two went unserved for
minutes (operator/kubecanvas_operator/namespace_watch.py says why). Here namespaces are
created back to back from before the operator starts until after it
answers its health check, so some land in that window; then a Workflow in each: every one
must be admitted.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from kubernetes import client

from support.cluster import Cluster
from support.operator import OperatorProcess
from support.waiting import wait_until

# Admitted, then waiting: a countdown of an hour keeps the task from running, so the test
# needs no pods, only the operator's answer.
LATER: dict[str, Any] = {
    "apiVersion": "kubecanvas.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "later"},
    "spec": {"canvas": {"task": "conftasks.add", "args": [1, 2], "options": {"countdown": 3600}}},
}


def test_workflows_in_namespaces_created_while_the_operator_starts_are_all_admitted(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", str((cluster.root / "crds").resolve()))
    prefix = f"u{uuid.uuid4().hex[:5]}"
    core = client.CoreV1Api(cluster.api)
    custom = client.CustomObjectsApi(cluster.api)
    created: list[str] = []
    stop = threading.Event()

    def create_namespaces() -> None:
        # Every 20 ms: kopf's window between its two listings is milliseconds wide. At most
        # 150: each namespace served costs kopf a watch per resource.
        for count in range(150):
            if stop.is_set():
                return
            name = f"{prefix}-{count:03d}"
            core.create_namespace({"metadata": {"name": name}})
            created.append(name)
            time.sleep(0.02)

    operator = OperatorProcess(
        cluster,
        log_path=cluster.root / f".cluster/logs/operator-start-{prefix}.log",
        # Its own Redis database: the suite's operator never sees these workflows' news.
        env={"KUBECANVAS_REDIS_URL": cluster.redis_url.rsplit("/", 1)[0] + "/8"},
        namespaces=(f"{prefix}-*",),
    )
    creating = threading.Thread(target=create_namespaces, daemon=True)
    try:
        creating.start()
        operator.start()
        started = time.monotonic()
        time.sleep(0.5)
        stop.set()
        creating.join(timeout=30)
        after_start = list(created)
        # A Workflow in each, now that the operator runs: one in a namespace kopf missed
        # would never be seen, since nothing watches that namespace.
        for name in after_start:
            custom.create_namespaced_custom_object("kubecanvas.io", "v1alpha1", name, "workflows", LATER)

        def phase(namespace: str) -> str | None:
            body = custom.get_namespaced_custom_object(
                "kubecanvas.io", "v1alpha1", namespace, "workflows", "later"
            )
            return (body.get("status") or {}).get("phase")

        def unadmitted() -> list[str]:
            return [namespace for namespace in after_start if phase(namespace) is None]

        waiting: list[str] = []

        def all_admitted() -> bool:
            nonlocal waiting
            waiting = unadmitted()
            return not waiting

        try:
            wait_until(all_admitted, timeout=30, what="every Workflow to be admitted")
        except pytest.fail.Exception:
            pytest.fail(
                f"{len(waiting)} of {len(after_start)} Workflows not admitted "
                f"{time.monotonic() - started:.0f}s after the operator answered: {waiting}"
            )
        assert len(after_start) > 20  # namespaces made before, during and after the start
    finally:
        stop.set()
        operator.stop()
        for name in created:
            try:
                core.delete_namespace(name)
            except client.ApiException as error:
                if error.status != 404:
                    raise
