"""Celery's `celery.result` names, for `from kubecanvas.result import AsyncResult` in ported
programs: the cluster's results (`kubecanvas.client.results`) and a finished local or eager
run's (`kubecanvas.local.eager`). Imported on first use: the cluster client is heavy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubecanvas._kits.lazy import lazy_exports

if TYPE_CHECKING:
    from kubecanvas.client.results import AsyncResult, GroupResult
    from kubecanvas.local.eager import EagerResult

__all__ = ["AsyncResult", "EagerResult", "GroupResult"]

__getattr__: Any = lazy_exports(
    __name__,
    {
        "AsyncResult": "kubecanvas.client.results",
        "GroupResult": "kubecanvas.client.results",
        "EagerResult": "kubecanvas.local.eager",
    },
    globals(),
)
