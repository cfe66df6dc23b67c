"""What a namespace needs before its first task pod can start.

Task pods run in the workflow's namespace. They need a ServiceAccount allowed to
read ConfigMaps (for `code.configMap`, nothing more) and, when Redis has a password,
a Secret holding it there: a `secretKeyRef` cannot reach across namespaces.
"""

from __future__ import annotations

import asyncio
import base64

from kubecanvas.errors import KubeApiError
from kubecanvas.resources import MANAGED_BY
from kubecanvas_operator.config import OperatorConfig
from kubecanvas_operator.jobs import PASSWORD_KEY
from kubecanvas_operator.kube import KubeApi

__all__ = ["NamespaceProvisioner"]

_LABELS = {"app.kubernetes.io/managed-by": MANAGED_BY}


class NamespaceProvisioner:
    def __init__(self, api: KubeApi, config: OperatorConfig) -> None:
        self.api = api
        self.config = config
        self._ready: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def redis_secret(self) -> str | None:
        """The Secret task pods read the Redis password from, if Redis has one."""
        return self.config.redis_secret_name if self.config.redis_password else None

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
            if self.config.redis_password:
                await self._redis_secret(namespace, self.config.redis_password)
            self._ready.add(namespace)

    def forget(self, namespace: str) -> None:
        self._ready.discard(namespace)

    async def _task_identity(self, namespace: str, name: str) -> None:
        await self.api.ensure(
            self.api.core.create_namespaced_service_account,
            namespace,
            {"metadata": {"name": name, "labels": _LABELS}},
        )
        await self.api.ensure(
            self.api.rbac.create_namespaced_role_binding,
            namespace,
            {
                "metadata": {"name": name, "labels": _LABELS},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": self.config.task_cluster_role,
                },
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
            },
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
