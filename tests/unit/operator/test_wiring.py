"""The operator's kopf wiring is explicit: one registry built in one place."""

from __future__ import annotations

import importlib

import kopf
from kopf._core.intents import registries  # the default registry, to show nothing lands in it

from kubecanvas_operator import cronhandlers, front, handlers, httpapi, webhook
from kubecanvas_operator.wiring import build_registry

MODULES = (handlers, cronhandlers, httpapi, webhook, front)


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
        "front.start",
        "front.stop",
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


def test_the_front_every_replica_serves_watches_nothing_and_the_leader_serves_no_webhook() -> None:
    """HA mode runs two kopfs: the front (webhook, results API) on every replica, which must
    start no watch (a standby acting on a Workflow would launch its tasks twice), and the
    operator proper on the leader, which must not serve the webhook a second time."""
    serving = build_registry(webhook=True, leading=False)
    assert _functions(serving) == {
        "handlers.login",
        "front.start",
        "front.stop",
        "webhook.serve_webhook",
        "webhook.validate",
        "webhook.validate_cronworkflow",
    }
    for part in (serving._watching, serving._changing, serving._spawning, serving._indexing):
        assert not list(part.get_all_handlers())
    leading = build_registry(webhook=True, serving=False)
    assert not list(leading._webhooks.get_all_handlers())
    assert not {"front.start", "webhook.serve_webhook"} & _functions(leading)
    assert _functions(leading) | _functions(serving) == _functions(build_registry(webhook=True))


def test_a_failed_admission_is_tried_again_within_seconds_not_kopfs_minute() -> None:
    admissions = [
        handler for handler in build_registry()._changing.get_all_handlers() if handler.fn is handlers.admit
    ]
    assert len(admissions) == 2  # a new Workflow, and one found at start-up
    assert all(handler.backoff is not None and handler.backoff <= 5 for handler in admissions)
