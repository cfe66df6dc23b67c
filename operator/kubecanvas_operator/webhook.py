"""The validating admission webhook: `kubectl apply` of an invalid Workflow is refused
with its field paths. Registered only when enabled (the chart serves it with a
certificate it generates or cert-manager issues): see `wiring.build_registry`."""

from __future__ import annotations

import os
from typing import Any

import kopf

from kubecanvas.check import checked_cron_spec, checked_spec
from kubecanvas.errors import InvalidWorkflow

__all__ = ["CRON_WEBHOOK_PATH_ID", "WEBHOOK_PATH_ID", "serve_webhook", "validate", "validate_cronworkflow"]

WEBHOOK_PATH_ID = "validate-workflow"  # kopf serves the handler at /<id>
CRON_WEBHOOK_PATH_ID = "validate-cronworkflow"  # served at /validate-cronworkflow


async def serve_webhook(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.admission.server = kopf.WebhookServer(
        addr="0.0.0.0",  # noqa: S104 - the API server calls in from outside the pod
        port=int(os.environ.get("KUBECANVAS_WEBHOOK_PORT", "9443")),
        certfile=os.environ["KUBECANVAS_WEBHOOK_CERT"],
        pkeyfile=os.environ["KUBECANVAS_WEBHOOK_KEY"],
    )


def validate(spec: kopf.Spec, **kwargs: Any) -> None:
    """Refuse an invalid Workflow, and any change of one but `spec.revoke`.

    An update that leaves everything else in the spec alone always passes (labels,
    annotations, `spec.revoke`), even for a Workflow created invalid before this webhook
    existed: it must stay possible to revoke, label or clean up such a Workflow."""
    old = kwargs.get("old")
    if kwargs.get("operation") == "UPDATE" and old is not None:
        before = {key: value for key, value in (old.get("spec") or {}).items() if key != "revoke"}
        after = {key: value for key, value in dict(spec).items() if key != "revoke"}
        if before != after:
            raise kopf.AdmissionError(
                "a Workflow cannot change once created; only spec.revoke may be set", code=422
            )
        return
    try:
        checked_spec(dict(spec))
    except InvalidWorkflow as error:
        raise kopf.AdmissionError(
            "invalid Workflow: " + "; ".join(map(str, error.problems)), code=422
        ) from None


def validate_cronworkflow(spec: kopf.Spec, **kwargs: Any) -> None:
    """Refuse an invalid CronWorkflow (schedule, time zone, limits, Workflow template);
    unlike a Workflow, its spec may change (a new schedule, suspend, ...).

    An update that leaves the spec as it was (labels, kopf's finalizer going on or off)
    always passes: a CronWorkflow that predates the webhook must stay deletable."""
    old = kwargs.get("old")
    if kwargs.get("operation") == "UPDATE" and old is not None and (old.get("spec") or {}) == dict(spec):
        return
    try:
        checked_cron_spec(dict(spec))
    except InvalidWorkflow as error:
        raise kopf.AdmissionError(
            "invalid CronWorkflow: " + "; ".join(map(str, error.problems)), code=422
        ) from None
