"""What a namespace needs before its first task pod can start, and a workflow before its
pods can reach Redis.

Task pods run in the workflow's namespace, as a ServiceAccount of their own that is bound
to nothing and whose token they do not get (the kubelet, not the task, reads a
`code.configMap`); a Workflow that needs the API names an account of its own.

When Redis has a password, each workflow's pods get a Redis user of their own
(store/tenancy.py: their own workflow's keys, nothing else) and a Secret with its password,
owned by the Workflow so it goes with it; a `secretKeyRef` cannot reach across namespaces.
With `redis_task_users` off (a managed Redis without ACL commands), the operator's own
password is copied into the namespace instead.
"""

from __future__ import annotations

import asyncio
import base64

from kubecanvas._kits.recent import Recent
from kubecanvas.errors import KubeApiError
from kubecanvas.resources import MANAGED_BY, WORKFLOW, task_secret_name
from kubecanvas.store.hostside import WorkflowStore
from kubecanvas.store.tenancy import task_password, task_user
from kubecanvas_operator.clients import RedisCredentials
from kubecanvas_operator.config import OperatorConfig
from kubecanvas_operator.jobs import PASSWORD_KEY
from kubecanvas_operator.kube import KubeApi

__all__ = ["NamespaceProvisioner"]

_LABELS = {"app.kubernetes.io/managed-by": MANAGED_BY}
_SECRETS_REMEMBERED = 10_000  # workflows whose task Secret this operator made


class NamespaceProvisioner:
    def __init__(self, api: KubeApi, config: OperatorConfig, store: WorkflowStore) -> None:
        self.api = api
        self.config = config
        self.store = store
        self._ready: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._secrets: Recent[str] = Recent(_SECRETS_REMEMBERED)

    @property
    def _task_users(self) -> bool:
        return bool(self.config.redis_password) and self.config.redis_task_users

    async def credentials(self, namespace: str, workflow: str, uid: str) -> RedisCredentials | None:
        if not self.config.redis_password:
            return None
        if not self._task_users:
            return RedisCredentials(self.config.redis_secret_name)
        password = task_password(self.config.redis_password.encode(), uid)
        await self.store.grant_tasks(uid, password)  # every time: a restarted Redis lost its users
        name = task_secret_name(uid)
        if uid not in self._secrets:
            await self._task_secret(namespace, workflow, uid, name, password)
            self._secrets.add(uid)
        return RedisCredentials(name, task_user(uid))

    async def restore(self, namespace: str, workflow: str, uid: str) -> None:
        self._secrets.discard(uid)  # believed made, but gone: make it again
        await self.credentials(namespace, workflow, uid)

    async def release(self, uid: str) -> None:
        if self._task_users:
            await self.store.revoke_tasks(uid)
        self._secrets.discard(uid)

    async def prepare(self, namespace: str) -> None:
        """Make sure `namespace` can run tasks; cached, so the hot path pays once."""
        if namespace in self._ready:
            return
        lock = self._locks.setdefault(namespace, asyncio.Lock())
        async with lock:
            if namespace in self._ready:
                return
            if self.config.manage_task_identity and self.config.task_service_account:
                await self._task_identity(namespace, self.config.task_service_account)
            if self.config.redis_password and not self.config.redis_task_users:
                await self._redis_secret(namespace, self.config.redis_password)
            self._ready.add(namespace)

    def forget(self, namespace: str) -> None:
        """Ensure the namespace again at its next Job (two creates that usually answer 409)."""
        self._ready.discard(namespace)

    async def _task_identity(self, namespace: str, name: str) -> None:
        await self.api.ensure(
            self.api.core.create_namespaced_service_account,
            namespace,
            {"metadata": {"name": name, "labels": _LABELS}},
        )

    async def _redis_secret(self, namespace: str, password: str) -> None:
        name = self.config.redis_secret_name
        data = {PASSWORD_KEY: base64.b64encode(password.encode()).decode()}
        body = {"metadata": {"name": name, "labels": _LABELS}, "type": "Opaque", "data": data}
        try:
            await self.api.ensure(self.api.core.create_namespaced_secret, namespace, body)
            # A rotated password must reach tasks too: replace what an older operator left.
            await self.api.patch_secret_data(namespace, name, data)
        except KubeApiError as error:
            raise KubeApiError(
                error.status, f"cannot provide the Redis password to namespace {namespace}: {error}"
            ) from None

    async def _task_secret(self, namespace: str, workflow: str, uid: str, name: str, password: str) -> None:
        """The workflow's task password in its namespace, owned by the Workflow (deleted with it)."""
        body = {
            "metadata": {
                "name": name,
                "labels": _LABELS,
                "ownerReferences": [WORKFLOW.owner_reference(workflow, uid)],
            },
            "type": "Opaque",
            "data": {PASSWORD_KEY: base64.b64encode(password.encode()).decode()},
        }
        try:
            await self.api.ensure(self.api.core.create_namespaced_secret, namespace, body)
        except KubeApiError as error:
            raise KubeApiError(
                error.status, f"cannot give workflow {namespace}/{workflow} its Redis password: {error}"
            ) from None
