"""Where calls go: the back end that `delay`, `apply_async`, calling a canvas and `send_task`
use (`client/settings.py` names them: cluster, local, eager).

The current app's settings win (Celery's `task_always_eager`, or `kubecanvas_backend`), then
`configure(backend=)`, then `KUBECANVAS_BACKEND`, else the cluster. The app registers
itself here (`sdk/app.py`), so that a canvas, below the app, reads its settings without knowing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["app_imports", "calling_backend", "current", "queue_options", "routed_queue", "use_app"]

_app: Any = None  # the current app (sdk/app.py), known here by its `conf` only


def use_app(app: Any) -> Any:
    """Make `app` (anything with a `conf` mapping: the current app) the one calls follow;
    returns the previous one."""
    global _app
    previous, _app = _app, app
    return previous


def current() -> Any:
    """The current app, or None."""
    return _app


def _settings() -> Mapping[str, Any] | None:
    return _app.conf if _app is not None else None


def calling_backend() -> str:
    """The back end a call goes to now."""
    from kubecanvas.client.settings import backend_named, resolve  # light, but only when calling

    settings = _settings()
    if settings is not None:
        if settings.get("task_always_eager"):
            return "eager"
        chosen = settings.get("kubecanvas_backend")
        if chosen is not None:
            return backend_named(chosen, "app.conf.kubecanvas_backend")
    return resolve().backend


def app_imports() -> list[str]:
    """The current app's `imports` and `include` settings (Celery's: the modules a worker
    imports at start), in order: a Workflow's `spec.imports`."""
    settings = _settings() or {}
    modules: list[str] = []
    for key in ("imports", "include"):
        value = settings.get(key) or ()
        modules.extend([value] if isinstance(value, str) else [str(module) for module in value])
    return list(dict.fromkeys(modules))


def routed_queue(task_name: str) -> str | None:
    """The queue Celery's `task_routes` setting sends `task_name` to, or None. Routes are a
    mapping (exact names, globs such as `"feed.tasks.*"`, compiled regexes) or a list of such
    mappings and router functions, tried in order; a route is `{"queue": name}` or a name."""
    routes = (_settings() or {}).get("task_routes")
    if not routes:
        return None
    for router in routes if isinstance(routes, list | tuple) else [routes]:
        route = _route(router, task_name)
        if route is not None:
            queue = route.get("queue") if isinstance(route, Mapping) else route
            return str(queue) if queue else None
    return None


def _route(router: Any, task_name: str) -> Any:
    import fnmatch
    import re

    if callable(router):
        return router(task_name, (), {}, {}, task=None)
    for pattern, route in dict(router).items():
        if isinstance(pattern, re.Pattern):
            if pattern.match(task_name):
                return route
        elif pattern == task_name or fnmatch.fnmatchcase(task_name, str(pattern)):
            return route
    return None


def queue_options(options: Mapping[str, Any], path: str = "options") -> dict[str, Any]:
    """Celery's `queue=`: a queue here is a place to run. One the current app defines in
    `conf.kubecanvas_queues` (`{"gpu": {"node_selector": ..., "tolerations": ..., "resources":
    ..., "image": ...}}`) gives its options under the call's own; any other stays the `queue`
    option, for the cluster's operator to resolve (the chart's `queues`), which refuses one it
    does not define. Without `queue`, `options` as given."""
    del path  # the option's own checks name it
    if "queue" not in options:
        return dict(options)
    given = dict(options)
    name = given.pop("queue")
    queues = dict((_settings() or {}).get("kubecanvas_queues") or {})
    if name not in queues:
        return {**given, "queue": name}
    return {**dict(queues[name]), **given}
