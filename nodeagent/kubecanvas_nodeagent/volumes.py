"""A pod's volumes, materialised as directories under the pod's state directory.

The shim later bind-mounts these directories at each container's mountPaths inside the
container's own mount namespace. Supported: emptyDir, hostPath, configMap, secret, downwardAPI
and projected (service account token, configMap, secret, downwardAPI) volumes, which covers the
``kube-api-access-*`` volume that makes in-cluster clients work.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import cast

from kubecanvas_nodeagent.environment import PodFacts, field_value, resource_value
from kubecanvas_nodeagent.kubeapi import ApiError, KubeClient
from kubecanvas_nodeagent.kubetypes import (
    ConfigMap,
    Container,
    DownwardAPIVolumeFile,
    KeyToPath,
    Pod,
    ProjectedVolumeSource,
    Secret,
    ServiceAccountTokenProjection,
    Volume,
)

log = logging.getLogger(__name__)

DEFAULT_MODE = 0o644
TOKEN_REFRESH_FRACTION = 0.8
"""Renew a projected token when this fraction of its lifetime has passed, as the kubelet does."""


class VolumeError(Exception):
    """A volume cannot be set up (a missing object, an unsupported kind): the pod waits."""


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool


def _relative(path: str) -> PurePosixPath:
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise VolumeError(f"invalid volume file path {path!r}")
    return relative


def _write(root: Path, path: str, content: bytes, mode: int) -> None:
    """Write one file atomically, so a reader never sees it half-written (tokens are rewritten)."""
    target = root / _relative(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(f".{target.name}.tmp")
    scratch.write_bytes(content)
    scratch.chmod(mode)
    scratch.replace(target)


def _write_keys(
    root: Path, data: Mapping[str, bytes], items: list[KeyToPath], mode: int, *, kind: str, optional: bool
) -> None:
    if not items:
        for key, content in data.items():
            _write(root, key, content, mode)
        return
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if optional:
                continue
            raise VolumeError(f"{kind} references non-existent config key: {key}")
        _write(root, item.get("path", key), data[key], item.get("mode", mode))


class PodVolumes:
    """Sets up one pod's volumes and keeps its service account tokens fresh."""

    def __init__(self, client: KubeClient, pod: Pod, root: Path, facts: PodFacts) -> None:
        self._client = client
        self._pod = pod
        self._root = root
        self._facts = facts
        self._namespace = pod.get("metadata", {}).get("namespace", "")
        self._refreshers: list[asyncio.Task[None]] = []
        self.paths: dict[str, Path] = {}

    async def prepare(self) -> None:
        """Create every volume; raises VolumeError with the kubelet's kind of message."""
        await self.close()
        for volume in self._pod.get("spec", {}).get("volumes", []):
            name = volume.get("name", "")
            try:
                self.paths[name] = await self._prepare(volume)
            except ApiError as error:
                raise VolumeError(f"volume {name!r}: {error.message}") from error

    async def close(self) -> None:
        for task in self._refreshers:
            task.cancel()
        for task in self._refreshers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._refreshers.clear()

    def mounts(self, container: Container) -> list[Mount]:
        """The container's volumeMounts as bind mounts, parents before children."""
        mounts = []
        for mount in container.get("volumeMounts", []):
            name = mount.get("name", "")
            if name not in self.paths:
                raise VolumeError(f"volumeMount {name!r} names no volume of the pod")
            source = self.paths[name]
            if sub_path := mount.get("subPath"):
                source = source / _relative(sub_path)
                if not source.exists():
                    source.mkdir(parents=True)  # as the kubelet does for a missing subPath
            read_only = mount.get("readOnly", False) or not self._writable(name)
            mounts.append(Mount(str(source), mount.get("mountPath", ""), read_only))
        return sorted(mounts, key=lambda m: len(PurePosixPath(m.target).parts))

    def _writable(self, name: str) -> bool:
        volume = next(v for v in self._pod.get("spec", {}).get("volumes", []) if v.get("name") == name)
        return "emptyDir" in volume or "hostPath" in volume

    async def _prepare(self, volume: Volume) -> Path:
        name = volume.get("name", "")
        if "hostPath" in volume:
            host = volume["hostPath"]
            path = Path(host.get("path", ""))
            if host.get("type") == "DirectoryOrCreate":
                path.mkdir(parents=True, exist_ok=True)
            elif host.get("type") == "FileOrCreate" and not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
            if not path.exists():
                raise VolumeError(f"hostPath {path} does not exist")
            return path
        directory = self._root / name
        if "emptyDir" in volume:  # survives container restarts: never wiped here
            directory.mkdir(parents=True, exist_ok=True)
            return directory
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        if "configMap" in volume:
            cm = volume["configMap"]
            mode = cm.get("defaultMode", DEFAULT_MODE)
            await self._configmap(
                directory, cm.get("name", ""), cm.get("items", []), mode, cm.get("optional", False)
            )
        elif "secret" in volume:
            secret = volume["secret"]
            mode = secret.get("defaultMode", DEFAULT_MODE)
            name, items, optional = (
                secret.get("secretName", ""),
                secret.get("items", []),
                secret.get("optional", False),
            )
            await self._secret(directory, name, items, mode, optional)
        elif "downwardAPI" in volume:
            downward = volume["downwardAPI"]
            self._downward(directory, downward.get("items", []), downward.get("defaultMode", DEFAULT_MODE))
        elif "projected" in volume:
            await self._projected(directory, volume["projected"])
        else:
            kinds = ", ".join(sorted(set(volume) - {"name"}))
            raise VolumeError(f"volume {name!r}: {kinds} volumes are not supported by the node agent")
        return directory

    async def _projected(self, directory: Path, projected: ProjectedVolumeSource) -> None:
        mode = projected.get("defaultMode", DEFAULT_MODE)
        for projection in projected.get("sources", []):
            if "serviceAccountToken" in projection:
                await self._token(directory, projection["serviceAccountToken"], mode)
            elif "configMap" in projection:
                cm = projection["configMap"]
                await self._configmap(
                    directory, cm.get("name", ""), cm.get("items", []), mode, cm.get("optional", False)
                )
            elif "secret" in projection:
                secret = projection["secret"]
                name, items, optional = (
                    secret.get("name", ""),
                    secret.get("items", []),
                    secret.get("optional", False),
                )
                await self._secret(directory, name, items, mode, optional)
            elif "downwardAPI" in projection:
                self._downward(directory, projection["downwardAPI"].get("items", []), mode)
            else:
                raise VolumeError(f"unsupported projected volume source {sorted(projection)}")

    async def _get(self, kind: str, name: str) -> ConfigMap | Secret | None:
        try:
            return cast(
                ConfigMap, await self._client.get(f"/api/v1/namespaces/{self._namespace}/{kind}/{name}")
            )
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    async def _configmap(
        self, root: Path, name: str, items: list[KeyToPath], mode: int, optional: bool
    ) -> None:
        configmap = cast(ConfigMap | None, await self._get("configmaps", name))
        if configmap is None:
            if optional:
                return
            raise VolumeError(f'configmap "{name}" not found')
        data = {k: v.encode() for k, v in configmap.get("data", {}).items()}
        data.update({k: base64.b64decode(v) for k, v in configmap.get("binaryData", {}).items()})
        _write_keys(root, data, items, mode, kind="configmap", optional=optional)

    async def _secret(self, root: Path, name: str, items: list[KeyToPath], mode: int, optional: bool) -> None:
        secret = await self._get("secrets", name)
        if secret is None:
            if optional:
                return
            raise VolumeError(f'secret "{name}" not found')
        data = {k: base64.b64decode(v) for k, v in secret.get("data", {}).items()}
        _write_keys(root, data, items, mode, kind="secret", optional=optional)

    def _downward(self, root: Path, items: list[DownwardAPIVolumeFile], mode: int) -> None:
        for item in items:
            if "fieldRef" in item:
                value = field_value(self._pod, item["fieldRef"].get("fieldPath", ""), self._facts)
            else:
                ref = item.get("resourceFieldRef", {})
                value = resource_value(
                    self._pod,
                    ref.get("containerName", ""),
                    ref.get("resource", ""),
                    ref.get("divisor"),
                    self._facts,
                )
            _write(root, item.get("path", ""), value.encode(), item.get("mode", mode))

    async def _token(self, root: Path, projection: ServiceAccountTokenProjection, mode: int) -> None:
        lifetime = projection.get("expirationSeconds", 3600)
        await self._write_token(root, projection, mode)
        self._refreshers.append(asyncio.create_task(self._refresh(root, projection, mode, lifetime)))

    async def _write_token(self, root: Path, projection: ServiceAccountTokenProjection, mode: int) -> None:
        meta = self._pod.get("metadata", {})
        account = self._pod.get("spec", {}).get("serviceAccountName", "default")
        audience = projection.get("audience")
        answer = await self._client.create(
            f"/api/v1/namespaces/{self._namespace}/serviceaccounts/{account}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {
                    "audiences": [audience] if audience else [],
                    "expirationSeconds": projection.get("expirationSeconds", 3600),
                    "boundObjectRef": {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "name": meta.get("name"),
                        "uid": meta.get("uid"),
                    },
                },
            },
        )
        _write(root, projection.get("path", "token"), str(answer["status"]["token"]).encode(), mode)

    async def _refresh(
        self, root: Path, projection: ServiceAccountTokenProjection, mode: int, lifetime: int
    ) -> None:
        delay = lifetime * TOKEN_REFRESH_FRACTION
        while True:
            await asyncio.sleep(delay)
            try:
                await self._write_token(root, projection, mode)
                delay = lifetime * TOKEN_REFRESH_FRACTION
            except (ApiError, OSError) as error:  # keep the old token; try again soon
                log.warning("refreshing a service account token in %s failed: %s", root, error)
                delay = min(60, lifetime * 0.05)
