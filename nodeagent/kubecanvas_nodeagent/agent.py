"""The agent's pods: one PodWorker per pod bound to this node, fed by a watch.

This module also answers the log server's lookups, and recovers what a previous agent left
behind before the first worker starts.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from typing import cast

from kubecanvas_nodeagent import recovery, state
from kubecanvas_nodeagent.containerlogs import ContainerLog
from kubecanvas_nodeagent.kubeapi import SYNCED, Reflector
from kubecanvas_nodeagent.kubetypes import Pod
from kubecanvas_nodeagent.podworker import LogNotFound, NodeContext, PodWorker
from kubecanvas_nodeagent.state import PodRecord

log = logging.getLogger(__name__)


async def recover(ctx: NodeContext) -> dict[str, PodRecord]:
    """Kill what a previous agent left running and settle its records (see recovery.py)."""
    records = recovery.load_records(ctx.pods_dir)
    for uid, record in records.items():
        killed = await recovery.reap_leftovers(record)
        recovery.settle(record, killed)
        state.save(ctx.pods_dir / uid, record)
    if records:
        log.info("recovered the records of %d pod(s) from a previous run", len(records))
    return records


class PodManager:
    """Creates, updates and forgets pod workers as the node's pods come and go."""

    def __init__(self, ctx: NodeContext, records: dict[str, PodRecord]) -> None:
        self._ctx = ctx
        self._records = records
        self.capacity_freed: Callable[[], None] = lambda: None
        """Called when a pod stops counting against the node's capacity (the scheduler listens)."""
        self.arrived: Callable[[str], None] = lambda uid: None
        """Called with the uid of each pod that newly appears on the node."""
        self._workers: dict[str, PodWorker] = {}

    def occupied(self) -> set[str]:
        """Pods on the node that still count against its capacity."""
        return {uid for uid, worker in self._workers.items() if not worker.finished}

    async def run(self) -> None:
        params = {"fieldSelector": f"spec.nodeName={self._ctx.node_name}"}
        async for kind, obj in Reflector(self._ctx.client, "/api/v1/pods", params).events():
            if kind == SYNCED:
                self._drop_stale_records()
                continue
            pod = cast(Pod, obj)
            uid = pod.get("metadata", {}).get("uid", "")
            worker = self._workers.get(uid)
            if kind == "DELETED":
                if worker is not None:
                    worker.gone()
                continue
            if worker is not None:
                worker.update(pod)
                continue
            worker = PodWorker(
                self._ctx, pod, self._records.pop(uid, None), self.capacity_freed, self._forget
            )
            self._workers[uid] = worker
            self.arrived(uid)
            worker.start()

    def _forget(self, worker: PodWorker) -> None:
        self._workers.pop(worker.uid, None)
        self.capacity_freed()

    def _drop_stale_records(self) -> None:
        """Records of pods that no longer exist: their processes are dead, their files can go."""
        for uid in list(self._records):
            if uid not in self._workers:
                record = self._records.pop(uid)
                log.info(
                    "pod %s/%s: gone while the agent was away; removing its files",
                    record.namespace,
                    record.name,
                )
                shutil.rmtree(self._ctx.pods_dir / uid, ignore_errors=True)

    def container_log(self, namespace: str, name: str, container: str, previous: bool) -> ContainerLog:
        for worker in self._workers.values():
            if worker.namespace == namespace and worker.name == name:
                return worker.container_log(container, previous=previous)
        raise LogNotFound(f'pod "{name}" in namespace "{namespace}" not found on this node')

    async def shutdown(self) -> None:
        await asyncio.gather(*(worker.shutdown() for worker in list(self._workers.values())))
