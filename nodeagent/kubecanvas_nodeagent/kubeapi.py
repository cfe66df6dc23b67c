"""A small typed async client for the Kubernetes API, over aiohttp.

The agent needs a dozen calls (watch, get, create, patch, delete, the binding and token
subresources). Writing them here keeps the agent free of the ``kubernetes`` package, whose
synchronous client would need a thread per watch.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import ssl
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

import aiohttp
import yaml

from kubecanvas_nodeagent.kubetypes import JsonObject, WatchEvent

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"

WATCH_TIMEOUT_SECONDS = 290
"""Ask the server to end each watch after this long; the reflector then resumes it."""


class KubeConfigError(Exception):
    """The kubeconfig file is missing, malformed or names credentials the agent cannot use."""


class ApiError(Exception):
    """A non-2xx answer from the API server, with its Status reason and message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class KubeConfig:
    """The current context of a kubeconfig: where the server is and how to trust and log in."""

    server: str
    ssl_context: ssl.SSLContext
    token: str | None

    @property
    def host(self) -> str:
        return urlsplit(self.server).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.server).port or 443


def _named(entries: Any, name: str, kind: str, path: Path) -> dict[str, Any]:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(kind)
            if isinstance(value, dict):
                return value
    raise KubeConfigError(f"{path}: no {kind} named {name!r}")


def _material(section: Mapping[str, Any], key: str, base: Path, scratch: Path) -> Path | None:
    """Return a file holding `key` (a path, or inline `key-data`), resolving relative paths."""
    if data := section.get(f"{key}-data"):
        target = scratch / key
        target.write_bytes(base64.b64decode(data))
        return target
    if value := section.get(key):
        candidate = Path(value)
        return candidate if candidate.is_absolute() else base / candidate
    return None


def load_kubeconfig(path: Path) -> KubeConfig:
    """Read the current context of a kubeconfig into a server URL and a TLS context."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise KubeConfigError(f"cannot read kubeconfig {path}: {error}") from error
    if not isinstance(raw, dict):
        raise KubeConfigError(f"{path}: not a kubeconfig (expected a mapping)")
    context = _named(raw.get("contexts"), str(raw.get("current-context", "")), "context", path)
    cluster = _named(raw.get("clusters"), str(context.get("cluster", "")), "cluster", path)
    user = _named(raw.get("users"), str(context.get("user", "")), "user", path)
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith("https://"):
        raise KubeConfigError(f"{path}: cluster server must be an https:// URL, got {server!r}")
    base = path.parent
    with tempfile.TemporaryDirectory(prefix="kubecanvas-nodeagent-") as scratch_dir:
        scratch = Path(scratch_dir)
        os.chmod(scratch, 0o700)
        ca = _material(cluster, "certificate-authority", base, scratch)
        context_ssl = ssl.create_default_context(cafile=str(ca) if ca else None)
        cert = _material(user, "client-certificate", base, scratch)
        key = _material(user, "client-key", base, scratch)
        if cert and key:
            try:
                context_ssl.load_cert_chain(str(cert), str(key))
            except (OSError, ssl.SSLError) as error:
                raise KubeConfigError(f"{path}: cannot load client certificate: {error}") from error
    token = user.get("token")
    if not (cert and key) and not isinstance(token, str):
        raise KubeConfigError(f"{path}: user needs a client certificate and key, or a token")
    return KubeConfig(server=server.rstrip("/"), ssl_context=context_ssl, token=token)


class KubeClient:
    """JSON over HTTPS to one API server, with the few verbs the agent uses."""

    def __init__(self, config: KubeConfig) -> None:
        self.config = config
        headers = {"Accept": "application/json", "User-Agent": "kubecanvas-nodeagent"}
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        self._session = aiohttp.ClientSession(
            base_url=config.server,
            headers=headers,
            connector=aiohttp.TCPConnector(ssl=config.ssl_context, limit=64),
            timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=None),
        )

    async def close(self) -> None:
        await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        timeout: float = 30,
    ) -> JsonObject:
        """Send one request and return the decoded JSON answer, raising ApiError on failure."""
        data = None if body is None else json.dumps(body)
        async with self._session.request(
            method,
            path,
            params=params,
            data=data,
            headers={"Content-Type": content_type},
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            payload = await response.read()
            if response.status >= 300:
                raise _api_error(response.status, payload)
            return cast(JsonObject, json.loads(payload)) if payload else {}

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> JsonObject:
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: Mapping[str, Any]) -> JsonObject:
        return await self.request("POST", path, body)

    async def patch(self, path: str, body: Mapping[str, Any], patch_type: str = MERGE_PATCH) -> JsonObject:
        return await self.request("PATCH", path, body, content_type=patch_type)

    async def delete(self, path: str, body: Mapping[str, Any] | None = None) -> JsonObject:
        return await self.request("DELETE", path, body)

    async def watch(self, path: str, params: Mapping[str, str]) -> AsyncIterator[WatchEvent]:
        """Yield the events of one watch request until the server ends it."""
        query = {**params, "watch": "true", "timeoutSeconds": str(WATCH_TIMEOUT_SECONDS)}
        async with self._session.get(f"{path}?{urlencode(query)}") as response:
            if response.status >= 300:
                raise _api_error(response.status, await response.read())
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield cast(WatchEvent, json.loads(line))


def _api_error(status: int, payload: bytes) -> ApiError:
    try:
        decoded = json.loads(payload)
    except ValueError:
        return ApiError(status, "", payload.decode(errors="replace")[:500])
    if not isinstance(decoded, dict):
        return ApiError(status, "", str(decoded)[:500])
    return ApiError(status, str(decoded.get("reason", "")), str(decoded.get("message", "")))


SYNCED = "SYNCED"
"""Pseudo event a Reflector yields after each full list: the consumer's view is now complete."""


class Reflector:
    """List, then watch, resuming from the last resourceVersion; relist when it has expired.

    Yields (event type, object) like a watch, but also survives dropped connections: after a
    relist it emits DELETED for objects that vanished meanwhile, so a consumer's view never
    goes stale.
    """

    def __init__(self, client: KubeClient, path: str, params: Mapping[str, str]) -> None:
        self._client = client
        self._path = path
        self._params = dict(params)
        self._known: dict[str, JsonObject] = {}

    async def events(self) -> AsyncIterator[tuple[str, JsonObject]]:
        resource_version = ""
        failures = 0
        while True:
            try:
                if not resource_version:
                    listing = await self._client.get(self._path, self._params)
                    resource_version = str(listing["metadata"]["resourceVersion"])
                    for kind, obj in self._replace(listing.get("items") or []):
                        yield kind, obj
                    yield SYNCED, {}
                params = {**self._params, "resourceVersion": resource_version, "allowWatchBookmarks": "true"}
                async for event in self._client.watch(self._path, params):
                    failures = 0
                    obj = event["object"]
                    kind = event["type"]
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            resource_version = ""  # expired: relist
                            break
                        raise ApiError(
                            int(obj.get("code", 500)), str(obj.get("reason")), str(obj.get("message"))
                        )
                    resource_version = str(obj["metadata"]["resourceVersion"])
                    if kind == "BOOKMARK":
                        continue
                    uid = str(obj["metadata"]["uid"])
                    if kind == "DELETED":
                        self._known.pop(uid, None)
                    else:
                        self._known[uid] = obj
                    yield kind, obj
            except (TimeoutError, aiohttp.ClientError, ApiError, ValueError, KeyError) as error:
                failures += 1
                if isinstance(error, ApiError) and error.status == 410:
                    resource_version = ""
                delay = min(0.2 * 2**failures, 5.0)
                log.warning("watch %s failed (%s); retrying in %.1fs", self._path, error, delay)
                await asyncio.sleep(delay)

    def _replace(self, items: list[JsonObject]) -> list[tuple[str, JsonObject]]:
        fresh = {str(item["metadata"]["uid"]): item for item in items}
        events = [("DELETED", obj) for uid, obj in self._known.items() if uid not in fresh]
        events += [("MODIFIED" if uid in self._known else "ADDED", obj) for uid, obj in fresh.items()]
        self._known = fresh
        return events
