"""The operator's kopf wiring is explicit: one registry built in one place."""

from __future__ import annotations

import importlib

import kopf
from kopf._core.intents import registries  # the default registry, to show nothing lands in it

from kubecanvas_operator import cronhandlers, handlers, httpapi, webhook
from kubecanvas_operator.wiring import build_registry

MODULES = (handlers, cronhandlers, httpapi, webhook)


def _functions(registry: kopf.OperatorRegistry) -> set[str]:
    found = set()
    for part in (registry._activities, registry._watching, registry._changing, registry._webhooks):
        for handler in part.get_all_handlers():
            found.add(f"{handler.fn.__module__.rsplit('.', 1)[-1]}.{handler.fn.__name__}")
    return found


def test_importing_a_handler_module_registers_nothing() -> None:
    for module in MODULES:
        importlib.reload(module)
    ours = {f"{module.__name__.rsplit('.', 1)[-1]}." for module in MODULES}
    leaked = {name for name in _functions(registries.get_default_registry()) if name.startswith(tuple(ours))}
    assert leaked == set()


def test_the_registry_has_every_handler_once() -> None:
    assert _functions(build_registry()) == {
        "handlers.login",
        "handlers.start",
        "handlers.stop",
        "handlers.running_workflows",
        "handlers.admit",
        "handlers.revoke",
        "handlers.refuse_spec_changes",
        "handlers.deleted",
        "handlers.job_changed",
        "handlers.pod_changed",
        "httpapi.track_workflow_phase",
        "cronhandlers.cron_changed",
        "cronhandlers.run_changed",
        "cronhandlers.stop_cron",
    }


def test_the_webhook_is_served_only_when_asked() -> None:
    assert not list(build_registry()._webhooks.get_all_handlers())
    served = {handler.id for handler in build_registry(webhook=True)._webhooks.get_all_handlers()}
    assert served == {webhook.WEBHOOK_PATH_ID, webhook.CRON_WEBHOOK_PATH_ID}
    assert "webhook.serve_webhook" in _functions(build_registry(webhook=True))
