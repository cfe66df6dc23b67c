"""The cluster client: submit Workflows and read their state (Kubernetes API and Redis).

    from kubecanvas.client import AsyncResult, configure, submit

    configure(redis_url="redis://redis.kubecanvas-system:6379/0")  # or KUBECANVAS_REDIS_URL
    res = (add.s(2, 2) | mul.s(10)).apply_async(namespace="team-a")
    res.get(timeout=60)

Attributes are imported on first use: `import kubecanvas.client` stays cheap, and the
SDK (which must never import the Kubernetes client) can name this package. Nothing is
imported here, not even for type checking, for the import-linter's sake.
"""

from __future__ import annotations

from typing import Any

from kubecanvas._kits.lazy import lazy_exports

__all__ = [
    "AsyncResult",
    "ClusterError",
    "GroupResult",
    "ResultTimeoutError",
    "WorkflowApi",
    "configure",
    "retry",
    "submit",
]

_EXPORTS = {
    "AsyncResult": "kubecanvas.client.results",
    "GroupResult": "kubecanvas.client.results",
    "ResultTimeoutError": "kubecanvas.errors",
    "submit": "kubecanvas.client.results",
    "retry": "kubecanvas.client.reruns",
    "configure": "kubecanvas.client.settings",
    "ClusterError": "kubecanvas.errors",
    "WorkflowApi": "kubecanvas.client.cluster",
}

__getattr__: Any = lazy_exports(__name__, _EXPORTS, globals())
