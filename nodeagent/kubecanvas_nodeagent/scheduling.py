"""The scheduler of a one-node cluster: bind each pending pod to this node, if it fits.

No kube-scheduler runs. The agent watches pods without a node (a watch, not polling: a chain of
short-lived Job pods is the product's hot path) and binds them through the pods/binding
subresource, in creation order, while the node has room and the pod's nodeSelector matches.
Pods that cannot be bound get PodScheduled=False with reason Unschedulable, and are retried
whenever a pod on the node finishes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import cast

import aiohttp

from kubecanvas_nodeagent.kubeapi import STRATEGIC_MERGE_PATCH, SYNCED, ApiError, KubeClient, Reflector
from kubecanvas_nodeagent.kubetypes import Pod

log = logging.getLogger(__name__)

DEFAULT_SCHEDULER = "default-scheduler"


def unschedulable_reason(pod: Pod, node_labels: Mapping[str, str], free_slots: int) -> str | None:
    """Why the pod cannot go on this node now, in kube-scheduler's words; None if it can."""
    selector = pod.get("spec", {}).get("nodeSelector", {})
    if any(node_labels.get(key) != value for key, value in selector.items()):
        return "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
    if free_slots <= 0:
        return "0/1 nodes are available: 1 Too many pods."
    return None


def _creation_order(pod: Pod) -> tuple[str, str]:
    meta = pod.get("metadata", {})
    return meta.get("creationTimestamp", ""), meta.get("name", "")


class Scheduler:
    """Binds unscheduled pods to the node; `occupied()` counts the pods already running there."""

    def __init__(
        self,
        client: KubeClient,
        node_name: str,
        node_labels: Mapping[str, str],
        max_pods: int,
        occupied: Callable[[], set[str]],
    ) -> None:
        self._client = client
        self._node = node_name
        self._labels = dict(node_labels)
        self._max_pods = max_pods
        self._occupied = occupied
        self._pending: dict[str, Pod] = {}
        self._assumed: set[str] = set()
        """Pods bound (or being bound) whose arrival on the node the agent has not seen yet."""
        self._reported: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._binds: set[asyncio.Task[None]] = set()

    def capacity_freed(self) -> None:
        """A pod on the node finished or went away: pending pods may fit now."""
        self._wake.set()

    def arrived(self, uid: str) -> None:
        """The node's pod watch saw a bound pod: it is counted there from now on."""
        self._assumed.discard(uid)

    async def run(self) -> None:
        await asyncio.gather(self._watch(), self._schedule_loop())

    async def _watch(self) -> None:
        params = {"fieldSelector": "spec.nodeName=,status.phase!=Succeeded,status.phase!=Failed"}
        async for kind, obj in Reflector(self._client, "/api/v1/pods", params).events():
            if kind == SYNCED:
                continue
            pod = cast(Pod, obj)
            uid = pod.get("metadata", {}).get("uid", "")
            spec = pod.get("spec", {})
            waiting = (
                kind != "DELETED"
                and not spec.get("nodeName")
                and not pod.get("metadata", {}).get("deletionTimestamp")
                and not spec.get("schedulingGates")
                and spec.get("schedulerName", DEFAULT_SCHEDULER) == DEFAULT_SCHEDULER
            )
            if waiting:
                self._pending[uid] = pod
            else:
                self._pending.pop(uid, None)
                self._reported.pop(uid, None)
            self._wake.set()

    async def _schedule_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            taken = self._occupied() | self._assumed
            free = self._max_pods - len(taken)
            for uid, pod in sorted(self._pending.items(), key=lambda item: _creation_order(item[1])):
                if uid in self._assumed:
                    continue
                reason = unschedulable_reason(pod, self._labels, free)
                if reason is None:
                    free -= 1
                    self._assumed.add(uid)
                    task = asyncio.create_task(self._bind(uid, pod))
                    self._binds.add(task)
                    task.add_done_callback(self._binds.discard)
                elif self._reported.get(uid) != reason:
                    self._reported[uid] = reason
                    task = asyncio.create_task(self._report(pod, reason))
                    self._binds.add(task)
                    task.add_done_callback(self._binds.discard)

    async def _bind(self, uid: str, pod: Pod) -> None:
        meta = pod.get("metadata", {})
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace, "uid": uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self._node},
        }
        try:
            await self._client.create(f"/api/v1/namespaces/{namespace}/pods/{name}/binding", body)
        except (ApiError, aiohttp.ClientError) as error:
            self._assumed.discard(uid)
            if isinstance(error, ApiError) and error.status in (404, 409):
                self._pending.pop(uid, None)  # deleted, or bound by someone else
                return
            log.warning("binding pod %s/%s failed: %s", namespace, name, error)
            await asyncio.sleep(0.5)
            self._wake.set()
            return
        self._pending.pop(uid, None)
        log.info("pod %s/%s: bound to %s", namespace, name, self._node)

    async def _report(self, pod: Pod, reason: str) -> None:
        meta = pod.get("metadata", {})
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        log.info("pod %s/%s: unschedulable: %s", namespace, name, reason)
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": reason}
        try:
            await self._client.patch(
                f"/api/v1/namespaces/{namespace}/pods/{name}/status",
                {"metadata": {"uid": meta.get("uid")}, "status": {"conditions": [condition]}},
                STRATEGIC_MERGE_PATCH,
            )
        except (ApiError, aiohttp.ClientError) as error:
            log.warning("reporting pod %s/%s unschedulable failed: %s", namespace, name, error)
