"""Celery's app object, so that `from celery import Celery` ports as `from kubecanvas import Celery`.

A Celery program is written around an app: `app = Celery("proj", broker=...)`, `@app.task`,
`app.send_task(...)`, `app.conf`, `app.AsyncResult(id)`. Here the cluster is the broker and
the result backend, so the app holds only what means something:

- `conf` (a dict with attribute access, as Celery's): `task_always_eager` (calls run here),
  `kubecanvas_backend` (`cluster`, `local` or `eager`: where calls go, see
  `client/settings.py`), `task_time_limit` / `task_soft_time_limit` (defaults of every
  `@app.task`), `task_default_retry_delay`.
  Other Celery settings (`broker_url`, `result_backend`, `timezone`, ...) are kept, so a
  config module loads unchanged, and mean nothing here.
- the current app: the last one made (Celery's `set_as_current=True`) decides where the
  calls of every task and canvas go (`sdk/calling.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kubecanvas.sdk.calling import current, use_app
from kubecanvas.sdk.signatures import Signature, signature
from kubecanvas.sdk.tasks import Task, make_task

__all__ = ["Celery", "Kubecanvas", "current_app"]

# Celery settings that become defaults of every `@app.task` (Celery's name -> the task's).
_TASK_DEFAULTS = {
    "task_time_limit": "time_limit",
    "task_soft_time_limit": "soft_time_limit",
    "task_default_retry_delay": "default_retry_delay",
}


class Settings(dict[str, Any]):
    """Celery's `app.conf`: a dict whose keys are also attributes."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def config_from_object(self, source: object) -> None:
        """Celery's settings from a module or object: its public lower-case names."""
        for key in dir(source):
            if not key.startswith("_") and key.islower():
                self[key] = getattr(source, key)


class Kubecanvas:
    """The app: `app = Kubecanvas("proj")` (or `Celery("proj", broker=...)`)."""

    def __init__(
        self,
        main: str | None = None,
        *,
        broker: str | None = None,
        backend: str | None = None,
        include: Iterable[str] = (),
        set_as_current: bool = True,
        **settings: Any,
    ) -> None:
        self.main = main
        self.conf = Settings(settings)
        if broker is not None:
            self.conf.setdefault("broker_url", broker)
        if backend is not None:
            self.conf.setdefault("result_backend", backend)
        self.conf.setdefault("include", list(include))
        self.tasks: dict[str, Task[Any, Any]] = {}
        if set_as_current:
            use_app(self)

    def __repr__(self) -> str:
        return f"<Kubecanvas {self.main or '__main__'}>"

    def config_from_object(self, source: object | str) -> None:
        """Load settings from an object or a module (a dotted name is imported)."""
        if isinstance(source, str):
            import importlib

            source = importlib.import_module(source)
        self.conf.config_from_object(source)

    def task(self, *function: Callable[..., Any], **settings: Any) -> Any:
        """`@app.task` or `@app.task(bind=True, ...)`: `kubecanvas.task` with the app's
        defaults (`task_time_limit`, ...), registered in `app.tasks` by name."""
        for setting, name in _TASK_DEFAULTS.items():
            if self.conf.get(setting) is not None:
                settings.setdefault(name, self.conf[setting])

        bind, base = bool(settings.pop("bind", False)), settings.pop("base", None)

        def register(target: Callable[..., Any]) -> Task[Any, Any]:
            made = make_task(target, bind=bind, base=base, settings=settings)
            self.tasks[made.name] = made
            return made

        if function:
            return register(function[0])
        return register

    def signature(
        self, name: str, args: Iterable[Any] = (), kwargs: Mapping[str, Any] | None = None, **options: Any
    ) -> Signature:
        return signature(name, args=tuple(args), kwargs=dict(kwargs or {}), **options)

    def send_task(
        self,
        name: str,
        args: Iterable[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        """Call a task by name, as Celery's `send_task`: wherever the back end sends calls."""
        return self.signature(name).apply_async(args, kwargs, **options)

    def AsyncResult(self, id: str, namespace: str | None = None) -> Any:  # noqa: N802 - Celery's name
        from kubecanvas.client import AsyncResult

        return AsyncResult(id, namespace)

    def beat_manifests(
        self, *, namespace: str | None = None, code: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """`conf.beat_schedule` as CronWorkflow manifests (`kubecanvas beat` prints them):
        one per entry, named after it, its cron times read in `conf.timezone` (default UTC).
        Each is checked as the cluster would check it (InvalidWorkflow, by field path)."""
        import re

        from kubecanvas.check import checked_cron_workflow
        from kubecanvas.resources import CRON_WORKFLOW
        from kubecanvas.sdk.schedules import schedule_field

        manifests = []
        for entry_name, entry in dict(self.conf.get("beat_schedule") or {}).items():
            where = f"beat_schedule[{entry_name!r}]"
            if not isinstance(entry, Mapping) or "task" not in entry or "schedule" not in entry:
                raise TypeError(f"{where}: an entry is a mapping with 'task' and 'schedule'")
            call = signature(
                entry["task"], args=tuple(entry.get("args") or ()), kwargs=dict(entry.get("kwargs") or {})
            )
            if entry.get("options"):
                call.set(**dict(entry["options"]))
            spec = call.to_workflow("beat", code=code)["spec"]
            name = re.sub(r"[^a-z0-9-]+", "-", str(entry_name).lower()).strip("-")[:52] or "beat"
            metadata: dict[str, Any] = {"name": name}
            if namespace:
                metadata["namespace"] = namespace
            manifest = {
                "apiVersion": CRON_WORKFLOW.api_version,
                "kind": CRON_WORKFLOW.kind,
                "metadata": metadata,
                "spec": {
                    "schedule": schedule_field(entry["schedule"], f"{where}['schedule']"),
                    "timezone": str(self.conf.get("timezone") or "UTC"),
                    "workflowSpec": spec,
                },
            }
            checked_cron_workflow(manifest)
            manifests.append(manifest)
        return manifests

    def autodiscover_tasks(self, *_: Any, **__: Any) -> None:
        """Accepted: tasks are found by their dotted names when they run, not registered up front."""


Celery = Kubecanvas
"""For `from kubecanvas import Celery`: the same app."""


def current_app() -> Kubecanvas | None:
    """The current app: the last one made with `set_as_current` (sdk/calling.py keeps it)."""
    app = current()
    return app if isinstance(app, Kubecanvas) else None
