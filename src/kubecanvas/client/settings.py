"""Where the cluster client finds Kubernetes and Redis.

Explicit arguments win over `configure()`, which wins over the environment:

| setting          | environment                     | default                               |
|------------------|---------------------------------|---------------------------------------|
| Redis URL        | `KUBECANVAS_REDIS_URL`          | none: read the results API            |
| Redis password   | `KUBECANVAS_REDIS_PASSWORD`     | none (or the one in the URL)          |
| events stream    | `KUBECANVAS_EVENTS_STREAM`      | `kubecanvas:events`                   |
| kubeconfig       | `KUBECONFIG`                    | `~/.kube/config`, or in-cluster       |
| back end         | `KUBECANVAS_BACKEND`            | `cluster`                             |

The back end is where `apply_async`/`delay`/`canvas()` go: `cluster` submits a Workflow;
`local` runs it on the local runner (a process per task, no cluster, no Redis); `eager`
runs it in this process (Celery's `task_always_eager`). Each returns a result with `get()`.

`configure(namespace=..., code=...)` also sets where `apply_async`/`delay` submit by
default and the `spec.code` of Workflows submitted without one (`delay()` takes neither).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from kubecanvas.execution import environment as runtime_env
from kubecanvas.store.layout import DEFAULT_EVENTS_STREAM

__all__ = [
    "BACKENDS",
    "BACKEND_ENV",
    "EVENTS_STREAM_ENV",
    "REDIS_PASSWORD_ENV",
    "REDIS_URL_ENV",
    "ClientSettings",
    "backend_named",
    "configure",
    "resolve",
]

# The same variables a task pod reads (one spelling: execution/environment.py).
REDIS_URL_ENV = runtime_env.REDIS_URL
REDIS_PASSWORD_ENV = runtime_env.REDIS_PASSWORD
EVENTS_STREAM_ENV = runtime_env.EVENTS_STREAM
BACKEND_ENV = "KUBECANVAS_BACKEND"
BACKENDS = ("cluster", "local", "eager")


@dataclass(frozen=True, slots=True)
class ClientSettings:
    redis_url: str | None = None
    redis_password: str | None = None
    events_stream: str = DEFAULT_EVENTS_STREAM
    kubeconfig: str | None = None
    namespace: str | None = None  # where to submit when the caller says nowhere
    code: Mapping[str, Any] | None = None  # spec.code for Workflows submitted without one
    backend: str = "cluster"  # where calls go: one of BACKENDS


_configured = ClientSettings()


def configure(
    *,
    redis_url: str | None = None,
    redis_password: str | None = None,
    events_stream: str | None = None,
    kubeconfig: str | None = None,
    namespace: str | None = None,
    code: Mapping[str, Any] | None = None,
    backend: str | None = None,
) -> ClientSettings:
    """Set process-wide defaults for `apply_async`, `delay` and `AsyncResult` (which take
    no connection arguments). Returns the settings now in force."""
    global _configured  # noqa: PLW0603 - one process-wide default, as Celery's app config
    changes: dict[str, Any] = {
        "redis_url": redis_url,
        "redis_password": redis_password,
        "events_stream": events_stream,
        "kubeconfig": kubeconfig,
        "namespace": namespace,
        "code": dict(code) if code is not None else None,
        "backend": backend_named(backend, "configure(backend=...)") if backend is not None else None,
    }
    _configured = replace(_configured, **{key: value for key, value in changes.items() if value is not None})
    return resolve()


def resolve(
    *,
    redis_url: str | None = None,
    redis_password: str | None = None,
    kubeconfig: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> ClientSettings:
    """The settings for one call: its arguments, then `configure()`, then the environment."""

    def env(name: str) -> str | None:
        return environ.get(name) or None

    return ClientSettings(
        redis_url=redis_url or _configured.redis_url or env(REDIS_URL_ENV),
        redis_password=redis_password or _configured.redis_password or env(REDIS_PASSWORD_ENV),
        events_stream=(
            _configured.events_stream
            if _configured.events_stream != DEFAULT_EVENTS_STREAM
            else env(EVENTS_STREAM_ENV) or DEFAULT_EVENTS_STREAM
        ),
        kubeconfig=kubeconfig or _configured.kubeconfig,  # else the client library reads KUBECONFIG
        namespace=_configured.namespace,
        code=_configured.code,
        backend=_configured.backend
        if _configured.backend != "cluster"
        else backend_named(env(BACKEND_ENV) or "cluster", BACKEND_ENV),
    )


def backend_named(value: object, where: str) -> str:
    """`value` if it names a back end; ConfigurationError saying `where` it was set otherwise."""
    if not isinstance(value, str) or value not in BACKENDS:
        from kubecanvas.errors import ConfigurationError

        raise ConfigurationError(f"{where}: {value!r} is not a back end; use one of {', '.join(BACKENDS)}")
    return value
