"""The operator's kopf wiring, in one place: which handler hears what.

Handlers are plain functions in their modules; nothing registers itself on import (so a
test, or the webhook's ids, can be imported without side effects). `build_registry`
returns a fresh `kopf.OperatorRegistry` that `__main__` hands to `kopf.operator`: the whole
operator, or in HA mode one of its two parts: the front every replica serves (the webhook
and the results API: `front`) and the operator proper, run by the leader only.

No finalizer is put on Workflows: deletion is seen as a watch event (handlers.deleted),
and what the operator missed while down is swept later (sweeping).
"""

from __future__ import annotations

import kopf

from kubecanvas.resources import CRON_LABEL, CRON_WORKFLOW, WORKFLOW, WORKFLOW_UID_LABEL
from kubecanvas_operator import cronhandlers, front, handlers, httpapi

__all__ = ["build_registry"]

# Jobs and pods the operator made (for tasks): the only ones it watches.
OURS = {WORKFLOW_UID_LABEL: kopf.PRESENT}

# An admission that failed on a passing fault (Redis restarting, the API server throttling)
# is tried again this soon, not after kopf's default minute: a user waits on it.
ADMIT_RETRY_SECONDS = 5.0


def build_registry(
    *, webhook: bool = False, serving: bool = True, leading: bool = True
) -> kopf.OperatorRegistry:
    """Every handler of the operator: with `serving`, the front (the results API, and with
    `webhook` the admission webhook too); with `leading`, the operator proper."""
    registry = kopf.OperatorRegistry()
    workflows, crons = WORKFLOW.selector, CRON_WORKFLOW.selector
    on = kopf.on

    # Credentials by kubecanvas's one rule (explicit file, $KUBECONFIG, the pod's account).
    on.login(registry=registry)(handlers.login)

    if serving:
        on.startup(registry=registry)(front.start)
        on.cleanup(registry=registry)(front.stop)
        if webhook:
            from kubecanvas_operator import webhook as admission  # TLS settings are read when it starts

            on.startup(registry=registry)(admission.serve_webhook)
            on.validate(*workflows, id=admission.WEBHOOK_PATH_ID, registry=registry)(admission.validate)
            on.validate(*crons, id=admission.CRON_WEBHOOK_PATH_ID, registry=registry)(
                admission.validate_cronworkflow
            )
    if not leading:
        return registry  # watches nothing: kopf starts no watch for admission handlers

    # Life of the operator: build the services (Redis, the conductor, metrics), close them.
    on.startup(registry=registry)(handlers.start)
    on.cleanup(registry=registry)(handlers.stop)
    on.probe(id="workflows", registry=registry)(handlers.running_workflows)

    # Workflows: admit (new, or found at start-up), revoke, refuse spec changes, forget.
    on.create(*workflows, backoff=ADMIT_RETRY_SECONDS, registry=registry)(handlers.admit)
    on.resume(*workflows, backoff=ADMIT_RETRY_SECONDS, registry=registry)(handlers.admit)
    on.field(*workflows, field="spec.revoke", registry=registry)(handlers.revoke)
    on.update(*workflows, field="spec", registry=registry)(handlers.refuse_spec_changes)
    on.event(*workflows, registry=registry)(handlers.deleted)
    on.event(*workflows, registry=registry)(httpapi.track_workflow_phase)

    # What Redis cannot tell: a task's Job or pod that died, or will never start.
    on.event("batch", "v1", "jobs", labels=OURS, registry=registry)(handlers.job_changed)
    on.event("", "v1", "pods", labels=OURS, registry=registry)(handlers.pod_changed)

    # CronWorkflows: one schedule task each, woken by its own changes and its runs'.
    on.event(*crons, registry=registry)(cronhandlers.cron_changed)
    on.event(*workflows, labels={CRON_LABEL: kopf.PRESENT}, registry=registry)(cronhandlers.run_changed)
    on.cleanup(registry=registry)(cronhandlers.stop_cron)
    return registry
