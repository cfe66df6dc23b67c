"""A small Kubernetes API client for the benchmark: JSON requests and raw watches.

The benchmark times events to the millisecond, so watches are read line by line from
one HTTPS stream per resource and every event is stamped with its local receipt time
(`time.time()`) before anything else is done with it. Standard library only (plus
PyYAML for the kubeconfig): no client-side models to deserialise, little CPU taken
from the machine being measured.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import shutil
import ssl
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ApiError", "KubeClient", "Watch", "WatchEvent"]


class ApiError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str
    object: dict[str, Any]
    received: float  # time.time() when the line arrived
    size: int  # bytes of the object's JSON as the API server sent it


def _materialise(entry: dict[str, Any], path_key: str, data_key: str, scratch: Path) -> str | None:
    if entry.get(path_key):
        return str(entry[path_key])
    if entry.get(data_key):
        target = scratch / data_key
        target.write_bytes(base64.b64decode(entry[data_key]))
        return str(target)
    return None


class KubeClient:
    """Admin access to one cluster, from a kubeconfig with client-certificate credentials."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        context_name = config.get("current-context")
        context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        self._scratch = Path(tempfile.mkdtemp(prefix="kcbench-kubeconfig-"))
        url = urllib.parse.urlsplit(cluster["server"])
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 443
        self.context = ssl.create_default_context(
            cafile=_materialise(cluster, "certificate-authority", "certificate-authority-data", self._scratch)
        )
        cert = _materialise(user, "client-certificate", "client-certificate-data", self._scratch)
        key = _materialise(user, "client-key", "client-key-data", self._scratch)
        if cert and key:
            self.context.load_cert_chain(cert, key)
        self._local = threading.local()

    def _connection(self, timeout: float | None = 60) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        ok_missing: bool = False,
    ) -> Any:
        """One call; the JSON reply (None for a 404 when `ok_missing`)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        for attempt in range(3):
            connection: http.client.HTTPSConnection | None = getattr(self._local, "connection", None)
            if connection is None:
                connection = self._connection()
                self._local.connection = connection
            try:
                connection.request(method, path, body=data, headers=headers)
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
                time.sleep(0.2)
                continue
            if response.status == 404 and ok_missing:
                return None
            if response.status >= 400:
                raise ApiError(response.status, payload.decode(errors="replace")[:500])
            return json.loads(payload) if payload else None
        raise AssertionError("unreachable")

    def text(self, path: str) -> str:
        """A GET of a plain-text endpoint (the API server's `/metrics`), on a connection of its own."""
        connection = self._connection()
        try:
            connection.request("GET", path, headers={"Accept": "text/plain"})
            response = connection.getresponse()
            payload = response.read().decode(errors="replace")
        finally:
            connection.close()
        if response.status >= 400:
            raise ApiError(response.status, payload[:500])
        return payload

    def watch(
        self,
        path: str,
        on_event: Callable[[WatchEvent], None],
        *,
        name: str = "watch",
    ) -> Watch:
        """Start a watch of a collection `path` (with its query, if any) in a thread."""
        watch = Watch(self, path, on_event, name)
        watch.start()
        return watch

    def close(self) -> None:
        connection: http.client.HTTPSConnection | None = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
        shutil.rmtree(self._scratch, ignore_errors=True)


@dataclass(eq=False)
class Watch:
    """List once (to learn the resourceVersion), then stream events until stopped."""

    client: KubeClient
    path: str
    on_event: Callable[[WatchEvent], None]
    name: str
    events: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _connection: http.client.HTTPSConnection | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError(f"the {self.name} watch did not start: {self.errors}")

    def stop(self) -> None:
        self._stop.set()
        connection = self._connection
        if connection is not None and connection.sock is not None:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(2)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        separator = "&" if "?" in self.path else "?"
        version = ""
        while not self._stop.is_set():
            try:
                if not version:
                    listing = self.client.request("GET", self.path)
                    version = listing["metadata"]["resourceVersion"]
                    for item in listing.get("items") or []:
                        self._deliver(
                            WatchEvent(
                                "ADDED", item, time.time(), len(json.dumps(item, separators=(",", ":")))
                            )
                        )
                query = f"{separator}watch=1&allowWatchBookmarks=true&resourceVersion={version}"
                connection = self.client._connection(timeout=None)
                self._connection = connection
                connection.request("GET", self.path + query, headers={"Accept": "application/json"})
                response = connection.getresponse()
                if response.status != 200:
                    raise ApiError(response.status, response.read().decode(errors="replace")[:300])
                self._ready.set()
                while not self._stop.is_set():
                    line = response.readline()
                    received = time.time()
                    if not line:
                        break
                    event = json.loads(line)
                    kind, obj = event.get("type", ""), event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            version = ""  # too old: list again
                        break
                    version = (obj.get("metadata") or {}).get("resourceVersion") or version
                    if kind == "BOOKMARK":
                        continue
                    # The object's JSON as sent: the line minus `{"type":"<kind>","object":` and `}\n`.
                    self._deliver(
                        WatchEvent(kind, obj, received, max(0, len(line.rstrip()) - len(kind) - 21))
                    )
                connection.close()
            except Exception as error:  # noqa: BLE001 - a watch rides out blips; errors are reported
                if self._stop.is_set():
                    return
                self.errors.append(f"{type(error).__name__}: {error}")
                time.sleep(0.5)

    def _deliver(self, event: WatchEvent) -> None:
        self.events += 1
        try:
            self.on_event(event)
        except Exception as error:  # noqa: BLE001 - a handler bug must not end the watch silently
            self.errors.append(f"handler: {type(error).__name__}: {error}")
