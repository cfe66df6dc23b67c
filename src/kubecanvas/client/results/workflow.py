"""One Workflow on the cluster, as its results see it: the object (Kubernetes), the task
states (the store), and waiting for news without polling (Redis notifications)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from kubecanvas.client.results.states import View
from kubecanvas.client.settings import REDIS_URL_ENV, ClientSettings
from kubecanvas.errors import ConfigurationError, ResultExpiredError, ResultTimeoutError, StoreError
from kubecanvas.graph.identity import (
    given_task_id,
    names_task_id,
    node_with_id,
    own_task_id,
    workflow_matches,
)
from kubecanvas.graph.nodes import Graph

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from kubecanvas.client.cluster import WorkflowApi
    from kubecanvas.store.hostside import WorkflowStore

__all__ = ["RemoteWorkflow", "run_sync"]

T = TypeVar("T")


class RemoteWorkflow:
    """One Workflow on the cluster, shared by every result that belongs to it."""

    def __init__(
        self,
        name: str,
        namespace: str,
        settings: ClientSettings,
        *,
        api: WorkflowApi | None = None,
        uid: str | None = None,
        graph: Graph | None = None,
    ) -> None:
        self.name, self.namespace, self.settings = name, namespace, settings
        self._api, self._uid, self._graph = api, uid, graph
        self._lock = threading.Lock()

    @classmethod
    def from_body(
        cls, body: Mapping[str, Any], settings: ClientSettings, api: WorkflowApi, graph: Graph | None = None
    ) -> RemoteWorkflow:
        metadata = body["metadata"]
        return cls(
            metadata["name"], metadata["namespace"], settings, api=api, uid=metadata["uid"], graph=graph
        )

    # -- Kubernetes

    @property
    def api(self) -> WorkflowApi:
        with self._lock:
            if self._api is None:
                from kubecanvas.client.cluster import WorkflowApi

                self._api = WorkflowApi(self.settings.kubeconfig)
            return self._api

    def body(self) -> dict[str, Any]:
        return self.api.get(self.namespace, self.name)

    @property
    def uid(self) -> str:
        if self._uid is None:
            self._uid = str(self.body()["metadata"]["uid"])
        return self._uid

    @property
    def graph(self) -> Graph:
        """The graph the operator compiled and stored. Read from the store; compiled from
        the spec only when there is no store to read or its keys expired (compiling is
        deterministic: the same ids)."""
        if self._graph is None:
            stored = self.read(lambda store: store.graph(self.uid)) if self.settings.redis_url else None
            self._graph = stored if stored is not None else self._compile()
        return self._graph

    def _compile(self) -> Graph:
        """The spec compiled here: for a Workflow whose stored graph cannot be read. One whose
        canvas is kept in the cluster (`canvas.offload`) has nothing here to compile."""
        from kubecanvas.canvas.offload import canvas_ref

        body = self.body()
        if canvas_ref(body.get("spec")) is not None:
            if self.settings.redis_url:
                raise ResultExpiredError(
                    f"workflow {self.qualified}: its state is gone from Redis (expired), and with it "
                    "the canvas it was submitted with (a spec too large for etcd)"
                )
            raise ConfigurationError(
                f"workflow {self.qualified} keeps its canvas in the cluster (a spec too large for "
                "etcd): reading its results from another handle than the one submit returned "
                "needs Redis (redis_url=, KUBECANVAS_REDIS_URL)"
            )
        return _compile(body)

    @property
    def qualified(self) -> str:
        return f"{self.namespace}/{self.name}"

    # -- task ids

    def task_id(self, node_id: str) -> str:
        """The own id (`self.request.id`) of the task `node_id` of this run."""
        node = next((node for node in self.graph.nodes if node.id == node_id), None)
        return own_task_id(self.uid, node) if node is not None else f"{self.name}/{node_id}"

    def given_id(self, node_id: str) -> bool:
        """Whether the task `node_id` was given its id (Celery's `task_id=`)."""
        return any(node.id == node_id and given_task_id(node) for node in self.graph.nodes)

    def node_of(self, task_id: str) -> str | None:
        """The graph id of the task whose own id is `task_id`, if it is one of this run's."""
        node = node_with_id(self.graph.nodes, self.uid, task_id)
        return node.id if node is not None else None

    @classmethod
    def of_task(
        cls, task_id: str, namespace: str, settings: ClientSettings
    ) -> tuple[RemoteWorkflow, str] | None:
        """The workflow of `namespace` that the task id `task_id` belongs to, and the task's
        graph id; None if no Workflow there has it. One list of the namespace's Workflows:
        a task id carries most of its workflow's uid (`kubecanvas.graph.identity`), and one
        given with `task_id=` is in its Workflow's spec (the newest such Workflow wins, as a
        Celery result stored again under the same id does)."""
        from kubecanvas.client.cluster import WorkflowApi

        api = WorkflowApi(settings.kubeconfig)
        bodies = sorted(
            api.workflows(namespace),
            key=lambda body: str(body["metadata"].get("creationTimestamp") or ""),
            reverse=True,
        )
        for body in bodies:
            uid, spec = str(body["metadata"].get("uid") or ""), body.get("spec") or {}
            if workflow_matches(task_id, uid) or names_task_id(spec.get("canvas"), task_id):
                workflow = cls.from_body(body, settings, api)
                node_id = workflow.node_of(task_id)
                if node_id is not None:
                    return workflow, node_id
        return None

    def revoke(self) -> None:
        self.api.patch(self.namespace, self.name, {"spec": {"revoke": True}})

    # -- Redis

    def read(self, work: Callable[[WorkflowStore], Awaitable[T]]) -> T:
        """Run `work` against the store, on a fresh connection, from synchronous code."""
        url = self.settings.redis_url
        if not url:
            raise ConfigurationError(
                "reading results needs Redis: set "
                f"{REDIS_URL_ENV}, or call kubecanvas.client.configure(redis_url=...)"
            )
        password, stream = self.settings.redis_password, self.settings.events_stream
        _ = self.uid  # resolved here, not from inside the event loop

        async def main() -> T:
            from redis import RedisError

            from kubecanvas.store.hostside import WorkflowStore, connect_async

            client: aioredis.Redis = connect_async(url, password)
            try:
                return await work(WorkflowStore(client, stream))
            except ResultTimeoutError:
                raise
            except (RedisError, OSError) as error:
                raise StoreError(f"cannot read workflow {self.qualified} from Redis: {error}") from None
            finally:
                await client.aclose()

        return run_sync(main)

    async def view(self, store: WorkflowStore, node_ids: list[str]) -> View:
        phase, records = await store.view(self.uid, node_ids)
        if phase is None:
            body = await asyncio.to_thread(self.body)
            return View(None, {}, body.get("status") or {})
        return View(phase, records)

    async def wait(
        self, store: WorkflowStore, node_ids: list[str], done: Callable[[View], bool], timeout: float | None
    ) -> View:
        """The first view for which `done` is true; ResultTimeoutError after `timeout` seconds."""
        from kubecanvas.client.notifications import NewsWaiter

        deadline = math.inf if timeout is None else time.monotonic() + timeout
        url, password = self.settings.redis_url, self.settings.redis_password
        assert url is not None  # read() checked

        def connect() -> aioredis.Redis:
            from kubecanvas.store.hostside import connect_async

            return connect_async(url, password)

        async with NewsWaiter(connect, store.events_stream, self.uid) as news:
            while True:
                view = await self.view(store, node_ids)
                if done(view):
                    return view
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ResultTimeoutError(
                        f"workflow {self.qualified}: the operation timed out ({timeout}s)"
                    )
                await news.wait(min(remaining, 3600.0))


def _compile(body: Mapping[str, Any]) -> Graph:
    """The spec compiled here: for a Workflow whose stored graph is gone."""
    from kubecanvas.check import checked_spec

    return checked_spec(body.get("spec")).graph


def run_sync(main: Callable[[], Awaitable[T]]) -> T:
    """`asyncio.run(main())`, in a helper thread when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_as_coroutine(main))
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(_as_coroutine(main))
        except BaseException as error:  # noqa: BLE001 - handed back to the caller's thread
            box["error"] = error

    worker = threading.Thread(target=target, name="kubecanvas-result", daemon=True)
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return cast(T, box["value"])


async def _as_coroutine(main: Callable[[], Awaitable[T]]) -> T:
    return await main()
