"""Where the CLI reads a workflow's per-task state: Redis itself, or the operator.

Redis is often not reachable from a laptop, the Kubernetes API server is. So:

- with a Redis URL (`--redis`, `KUBECANVAS_REDIS_URL`): read Redis directly, and wait
  for news with Redis notifications (`kubecanvas.client.notifications`);
- otherwise: ask the operator's HTTP API through the API server's service proxy,
  `/api/v1/namespaces/<ns>/services/<svc>:http/proxy/api/v1/workflows/<ns>/<name>`.
  The operator's Service is `KUBECANVAS_OPERATOR_SERVICE` (`namespace/name[:port]`) or
  the one labelled `app.kubernetes.io/name=kubecanvas,app.kubernetes.io/component=operator`.
  Callers need `get` on `services/proxy` in the operator's namespace.

Both answer the same document (`kubecanvas.client.documents.document_of`).
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, cast

from kubecanvas.client.cluster import WorkflowApi
from kubecanvas.client.settings import OPERATOR_SERVICE_ENV, REDIS_URL_ENV, ClientSettings
from kubecanvas.errors import ClusterError
from kubecanvas.report.document import WorkflowDocument

__all__ = [
    "OPERATOR_SELECTOR",
    "OperatorSource",
    "RedisSource",
    "StateSource",
    "find_operator",
    "open_source",
]

OPERATOR_SELECTOR = "app.kubernetes.io/name=kubecanvas,app.kubernetes.io/component=operator"
API_PREFIX = "/api/v1/workflows"


class StateSource(ABC):
    """Reads the document of Workflows; `wait` returns early when there is news."""

    description: str

    @abstractmethod
    def document(self, body: Mapping[str, Any]) -> WorkflowDocument: ...

    @abstractmethod
    def wait(self, body: Mapping[str, Any], seconds: float) -> None: ...

    def close(self) -> None:
        return None

    def __enter__(self) -> StateSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class RedisSource(StateSource):
    """Redis read directly; one event loop for the life of the source (a watch)."""

    def __init__(self, url: str, password: str | None, events_stream: str) -> None:
        from kubecanvas.store.hostside import connect_async

        self.description = f"Redis at {_redact(url)}"
        self.url = url
        self.events_stream = events_stream
        self._runner = asyncio.Runner()
        self._connect = lambda: connect_async(url, password)
        self._client = self._runner.run(_make(self._connect))
        self._waiters: dict[str, Any] = {}

    def document(self, body: Mapping[str, Any]) -> WorkflowDocument:
        from redis import RedisError

        from kubecanvas.client.documents import document_of
        from kubecanvas.store.hostside import WorkflowStore

        try:
            return self._runner.run(document_of(body, WorkflowStore(self._client, self.events_stream)))
        except (RedisError, OSError) as error:
            raise ClusterError(
                f"cannot read {self.description}: {error} "
                f"(unset {REDIS_URL_ENV} / drop --redis to read through the operator)"
            ) from None

    def wait(self, body: Mapping[str, Any], seconds: float) -> None:
        from redis import RedisError

        from kubecanvas.client.notifications import NewsWaiter

        uid = str(body["metadata"]["uid"])
        try:
            waiter = self._waiters.get(uid)
            if waiter is None:
                waiter = NewsWaiter(self._connect, self.events_stream, uid)
                self._runner.run(waiter.__aenter__())
                self._waiters[uid] = waiter
            self._runner.run(waiter.wait(seconds))
        except (RedisError, OSError) as error:
            raise ClusterError(f"cannot read {self.description}: {error}") from None

    def close(self) -> None:
        try:
            for waiter in self._waiters.values():
                self._runner.run(waiter.__aexit__(None, None, None))
            self._runner.run(self._client.aclose())
        except Exception:  # noqa: BLE001, S110 - closing after an error must not hide it
            pass
        finally:
            self._runner.close()


class OperatorSource(StateSource):
    """The operator's HTTP API, reached through the Kubernetes API server."""

    def __init__(self, api: WorkflowApi, namespace: str, service: str, port: str = "http") -> None:
        self.api = api
        self.namespace, self.service, self.port = namespace, service, port
        self.description = f"the operator (service {namespace}/{service}:{port})"

    def document(self, body: Mapping[str, Any]) -> WorkflowDocument:
        metadata = body["metadata"]
        path = f"{API_PREFIX}/{metadata['namespace']}/{metadata['name']}"
        answer = self.api.proxy_get(self.namespace, self.service, self.port, path)
        if not isinstance(answer, dict) or "tasks" not in answer:
            raise ClusterError(f"{self.description} answered an unexpected document")
        return cast(WorkflowDocument, answer)

    def wait(self, body: Mapping[str, Any], seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, 1.0)))


def open_source(api: WorkflowApi, settings: ClientSettings) -> StateSource:
    """Redis when a URL is known, else the operator."""
    if settings.redis_url:
        return RedisSource(settings.redis_url, settings.redis_password, settings.events_stream)
    namespace, service, port = find_operator(api, settings.operator_service)
    return OperatorSource(api, namespace, service, port)


def find_operator(api: WorkflowApi, explicit: str | None = None) -> tuple[str, str, str]:
    """(namespace, service, port name or number) of the operator's HTTP API."""
    if explicit:
        where, _, port = explicit.partition(":")
        namespace, slash, name = where.partition("/")
        if not slash or not namespace or not name:
            raise ClusterError(f"{OPERATOR_SERVICE_ENV}={explicit!r}: expected namespace/name[:port]")
        return namespace, name, port or "http"
    found = api.services(OPERATOR_SELECTOR)
    hint = (
        f"set {OPERATOR_SERVICE_ENV}=namespace/name, "
        f"or give Redis directly with --redis URL / {REDIS_URL_ENV}"
    )
    if not found:
        raise ClusterError(
            f"cannot find the kubecanvas operator's Service (labels {OPERATOR_SELECTOR}): {hint}"
        )
    if len(found) > 1:
        names = ", ".join(
            sorted(f"{item['metadata']['namespace']}/{item['metadata']['name']}" for item in found)
        )
        raise ClusterError(f"several kubecanvas operator Services ({names}): {hint}")
    metadata = found[0]["metadata"]
    return str(metadata["namespace"]), str(metadata["name"]), "http"


async def _make(factory: Any) -> Any:
    """Build an asyncio object inside the runner's loop."""
    return factory()


def _redact(url: str) -> str:
    """The URL without a password (redis://:secret@host -> redis://***@host)."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}"
