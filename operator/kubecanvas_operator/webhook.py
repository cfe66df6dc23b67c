"""The validating admission webhook: `kubectl apply` of an invalid Workflow is refused
with its field paths, and one that would have the operator do what its author may not
(`authority`) is refused with the missing permissions named. Registered only when enabled
(the chart serves it with a certificate it generates or cert-manager issues): see
`wiring.build_registry`. Every replica serves it, the standbys too (`front`)."""

from __future__ import annotations

import os
from typing import Any

import kopf
from aiohttp import web
from redis import RedisError

from kubecanvas.canvas.offload import canvas_ref
from kubecanvas.check import checked_cron_spec, checked_spec, warnings
from kubecanvas.errors import InvalidWorkflow, KubeApiError
from kubecanvas_operator.authority import missing_access, needed_access
from kubecanvas_operator.canvases import joined_spec
from kubecanvas_operator.memo import OperatorMemo
from kubecanvas_operator.queues import check_queues

__all__ = [
    "CRON_WEBHOOK_PATH_ID",
    "MAX_REVIEW_BYTES",
    "WEBHOOK_PATH_ID",
    "serve_webhook",
    "validate",
    "validate_cronworkflow",
]

WEBHOOK_PATH_ID = "validate-workflow"  # kopf serves the handler at /<id>
CRON_WEBHOOK_PATH_ID = "validate-cronworkflow"  # served at /validate-cronworkflow


MAX_REVIEW_BYTES = 8 * 1024 * 1024
"""The largest AdmissionReview taken. aiohttp's default is 1 MiB, under etcd's 1.5 MiB per
object: the API server's review of a Workflow between the two was refused with a bare 413
("failed calling webhook"), where etcd would have stored it. An update's review holds the
object twice (object, oldObject), each at most the API server's 3 MiB."""


class _WebhookServer(kopf.WebhookServer):
    """kopf's webhook server, taking reviews up to MAX_REVIEW_BYTES (kopf builds its aiohttp
    application without a setting for it; each request says its own limit instead)."""

    @staticmethod
    async def _serve(fn: Any, request: web.Request) -> web.Response:
        return await kopf.WebhookServer._serve(fn, request.clone(client_max_size=MAX_REVIEW_BYTES))


async def serve_webhook(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.admission.server = _WebhookServer(
        addr="0.0.0.0",  # noqa: S104 - the API server calls in from outside the pod
        port=int(os.environ.get("KUBECANVAS_WEBHOOK_PORT", "9443")),
        certfile=os.environ["KUBECANVAS_WEBHOOK_CERT"],
        pkeyfile=os.environ["KUBECANVAS_WEBHOOK_KEY"],
    )


async def validate(spec: kopf.Spec, **kwargs: Any) -> None:
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
    memo: OperatorMemo | None = kwargs.get("memo")
    whole = dict(spec)
    try:
        if canvas_ref(whole) is not None:  # judged whole: its canvas, and who may run it
            whole = await _joined(whole, kwargs)
        graph = checked_spec(whole).graph
        if memo is not None:
            check_queues(graph, memo.config.queues)
    except InvalidWorkflow as error:
        raise kopf.AdmissionError(
            "invalid Workflow: " + "; ".join(map(str, error.problems)), code=422
        ) from None
    await _check_author(whole, "Workflow", kwargs)
    _warn(kwargs, {"spec": whole})


async def _joined(spec: dict[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The whole spec of a Workflow whose canvas was uploaded (`canvases`)."""
    memo: OperatorMemo | None = kwargs.get("memo")
    front = memo.front if memo is not None else None
    if front is None:
        raise kopf.AdmissionError("the kubecanvas operator is starting; apply again in a moment", code=503)
    metadata = dict(kwargs.get("meta") or {})
    metadata.setdefault("namespace", kwargs.get("namespace"))
    try:
        return (await joined_spec(front.store, metadata, spec))[0]
    except (RedisError, OSError) as error:
        message = f"cannot read the Workflow's stored canvas from Redis: {error}"
        raise kopf.AdmissionError(message, code=503) from None


async def validate_cronworkflow(spec: kopf.Spec, **kwargs: Any) -> None:
    """Refuse an invalid CronWorkflow (schedule, time zone, limits, Workflow template);
    unlike a Workflow, its spec may change (a new schedule, suspend, ...).

    An update that leaves the spec as it was (labels, kopf's finalizer going on or off)
    always passes: a CronWorkflow that predates the webhook must stay deletable."""
    old = kwargs.get("old")
    if kwargs.get("operation") == "UPDATE" and old is not None and (old.get("spec") or {}) == dict(spec):
        return
    memo: OperatorMemo | None = kwargs.get("memo")
    try:
        checked_cron_spec(dict(spec))
        if memo is not None:  # every run would be refused for a queue this cluster lacks
            template = checked_spec(dict(spec.get("workflowSpec") or {}), "spec.workflowSpec")
            check_queues(template.graph, memo.config.queues)
    except InvalidWorkflow as error:
        raise kopf.AdmissionError(
            "invalid CronWorkflow: " + "; ".join(map(str, error.problems)), code=422
        ) from None
    await _check_author(dict(spec.get("workflowSpec") or {}), "CronWorkflow", kwargs, "spec.workflowSpec")
    _warn(kwargs, {"spec": dict(spec)})


def _warn(kwargs: dict[str, Any], manifest: dict[str, Any]) -> None:
    """Admitted, but probably not meant: admission warnings, which `kubectl apply` prints."""
    answer: list[str] | None = kwargs.get("warnings")
    if answer is not None:
        answer.extend(str(problem) for problem in warnings(manifest))


async def _check_author(spec: dict[str, Any], kind: str, kwargs: dict[str, Any], path: str = "spec") -> None:
    """Refuse unless the requesting user could do themselves what the spec has the operator
    do (fails closed: a review that cannot be made refuses)."""
    memo: OperatorMemo | None = kwargs.get("memo")
    user = kwargs.get("userinfo") or {}
    namespace = kwargs.get("namespace") or (kwargs.get("meta") or {}).get("namespace")
    if not namespace:  # the API server fills it in before admission; never guess one
        raise kopf.AdmissionError(f"the {kind} has no namespace to check its author's rights in", code=422)
    front = memo.front if memo is not None else None
    if front is None:
        raise kopf.AdmissionError("the kubecanvas operator is starting; apply again in a moment", code=503)
    if front.identity and user.get("username") == front.identity:
        return  # a run the operator starts from a CronWorkflow, whose author was checked
    try:
        missing = await missing_access(front.api, user, namespace, needed_access(spec, path))
    except KubeApiError as error:
        raise kopf.AdmissionError(
            f"cannot check the rights of the {kind}'s author: {error}", code=503
        ) from None
    if missing:
        who = user.get("username") or "the requesting user"
        raise kopf.AdmissionError(
            f"this {kind} would have the operator do what {who} may not: " + "; ".join(missing), code=403
        )
