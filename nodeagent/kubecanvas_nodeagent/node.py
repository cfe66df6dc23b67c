"""The Node object this agent stands for: registration, its Lease, and a fresh Ready condition.

The controller-manager's node lifecycle controller watches the Lease in kube-node-lease; if it
went stale, the node would be tainted unreachable and its pods evicted. So the agent renews it
every LEASE_RENEW_SECONDS, as a kubelet does, and refreshes the Ready heartbeat with it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aiohttp

from kubecanvas_nodeagent import __version__
from kubecanvas_nodeagent.kubeapi import STRATEGIC_MERGE_PATCH, ApiError, KubeClient
from kubecanvas_nodeagent.kubetypes import JsonObject
from kubecanvas_nodeagent.podstatus import format_time
from kubecanvas_nodeagent.quantity import parse_quantity

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
LEASE_RENEW_SECONDS = 10.0

_ARCHITECTURES = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
}


@dataclass(frozen=True)
class NodeConfig:
    name: str
    host_ip: str
    port: int
    max_pods: int
    state_dir: Path
    labels: dict[str, str] = field(default_factory=dict)


def _read(path: str, default: str = "") -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default


def _memory_kib() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip('"')
    return platform.platform()


def architecture() -> str:
    return _ARCHITECTURES.get(platform.machine(), platform.machine())


def capacity(config: NodeConfig) -> dict[str, str]:
    """What the node offers: this machine's CPUs, memory and disk, and the pod limit."""
    return {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{_memory_kib()}Ki",
        "ephemeral-storage": str(shutil.disk_usage(config.state_dir).total),
        "pods": str(config.max_pods),
    }


def allocatable(config: NodeConfig) -> dict[str, Decimal]:
    """Capacity as numbers, for resourceFieldRef limits a container leaves unset."""
    return {name: parse_quantity(value) for name, value in capacity(config).items()}


def node_labels(config: NodeConfig) -> dict[str, str]:
    return {
        "kubernetes.io/hostname": config.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": architecture(),
        **config.labels,
    }


_CONDITIONS = [
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "node agent has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "node agent has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "node agent has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "node agent is posting ready status"),
]


def _conditions(now: str, since: str) -> list[JsonObject]:
    """A healthy node's conditions, with `now` as the heartbeat."""
    return [
        {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": since,
        }
        for kind, status, reason, message in _CONDITIONS
    ]


def node_status(config: NodeConfig, now: str, since: str) -> JsonObject:
    offered = capacity(config)
    return {
        "capacity": offered,
        "allocatable": offered,
        "conditions": _conditions(now, since),
        "addresses": [
            {"type": "InternalIP", "address": config.host_ip},
            {"type": "Hostname", "address": config.name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": config.port}},
        "nodeInfo": {
            "machineID": _read("/etc/machine-id"),
            "systemUUID": _read("/sys/class/dmi/id/product_uuid"),
            "bootID": _read("/proc/sys/kernel/random/boot_id"),
            "kernelVersion": platform.release(),
            "osImage": _os_image(),
            "containerRuntimeVersion": f"nodeagent://{__version__}",
            "kubeletVersion": f"v{__version__}-nodeagent",
            "operatingSystem": "linux",
            "architecture": architecture(),
        },
    }


def _micro_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class NodeHeartbeat:
    """Registers the Node, then keeps its Lease and Ready condition fresh until cancelled."""

    def __init__(self, client: KubeClient, config: NodeConfig) -> None:
        self._client = client
        self._config = config
        self._since = format_time(datetime.now(UTC))
        self._node_uid = ""

    async def register(self) -> None:
        """Create the Node (or adopt an existing one) and post a Ready status."""
        now = format_time(datetime.now(UTC))
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self._config.name, "labels": node_labels(self._config)},
            "spec": {},
            "status": node_status(self._config, now, self._since),
        }
        try:
            node = await self._client.create("/api/v1/nodes", body)
        except ApiError as error:
            if error.status != 409:
                raise
            node = await self._client.patch(
                f"/api/v1/nodes/{self._config.name}", {"metadata": {"labels": node_labels(self._config)}}
            )
        self._node_uid = str(node["metadata"]["uid"])
        await self._post_status()
        await self._renew_lease()
        log.info("registered node %s (%s)", self._config.name, capacity(self._config))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(LEASE_RENEW_SECONDS)
            try:
                await self._renew_lease()
                await self._post_status()
            except (ApiError, aiohttp.ClientError, TimeoutError) as error:
                log.warning("node heartbeat failed: %s", error)

    async def _post_status(self) -> None:
        now = format_time(datetime.now(UTC))
        await self._client.patch(
            f"/api/v1/nodes/{self._config.name}/status",
            {"status": node_status(self._config, now, self._since)},
            STRATEGIC_MERGE_PATCH,
        )

    async def _renew_lease(self) -> None:
        name = self._config.name
        spec = {
            "holderIdentity": name,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": _micro_time(datetime.now(UTC)),
        }
        path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases"
        try:
            await self._client.patch(f"{path}/{name}", {"spec": spec})
        except ApiError as error:
            if error.status != 404:
                raise
            owner = {"apiVersion": "v1", "kind": "Node", "name": name, "uid": self._node_uid}
            await self._client.create(
                path,
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": name, "namespace": LEASE_NAMESPACE, "ownerReferences": [owner]},
                    "spec": spec,
                },
            )
