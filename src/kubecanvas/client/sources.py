"""Where the CLI reads a workflow's per-task state: Redis itself, or the operator.

Redis is often not reachable from a laptop, the Kubernetes API server is. So:

- with a Redis URL (`--redis`, `KUBECANVAS_REDIS_URL`): read Redis directly, and wait
  for news with Redis notifications (`kubecanvas.client.notifications`);
- otherwise: ask the operator's results API through the API server, with the user's own
  credentials: `/apis/results.kubecanvas.io/v1alpha1/namespaces/<ns>/workflowresults/<name>`
  (an aggregated API the chart registers). Callers need `get` on that `workflowresult` and
  on the Workflow itself (the chart adds the first to the `view` role).

Both answer the same document (`kubecanvas.client.documents.document_of`).
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from kubecanvas.client.cluster import WorkflowApi
from kubecanvas.client.documents import document_from_result
from kubecanvas.client.settings import REDIS_URL_ENV, ClientSettings
from kubecanvas.errors import ClusterError
from kubecanvas.report.document import WorkflowDocument

__all__ = [
    "RedisSource",
    "ResultsApiSource",
    "StateSource",
    "open_source",
]


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
                f"(unset {REDIS_URL_ENV} / drop --redis to read through the results API)"
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


class ResultsApiSource(StateSource):
    """The operator's results API, reached through the Kubernetes API server."""

    description = "the results API (workflowresults.results.kubecanvas.io)"

    def __init__(self, api: WorkflowApi) -> None:
        self.api = api

    def document(self, body: Mapping[str, Any]) -> WorkflowDocument:
        metadata = body["metadata"]
        return document_from_result(self.api.workflow_result(metadata["namespace"], metadata["name"]))

    def wait(self, body: Mapping[str, Any], seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, 1.0)))


def open_source(api: WorkflowApi, settings: ClientSettings) -> StateSource:
    """Redis when a URL is known, else the results API."""
    if settings.redis_url:
        return RedisSource(settings.redis_url, settings.redis_password, settings.events_stream)
    return ResultsApiSource(api)


async def _make(factory: Any) -> Any:
    """Build an asyncio object inside the runner's loop."""
    return factory()


def _redact(url: str) -> str:
    """The URL without a password (redis://:secret@host -> redis://***@host)."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}"
