"""The results API: a workflow's state, for users who cannot reach Redis, as a Kubernetes API.

    GET /apis/results.kubecanvas.io/v1alpha1                                   discovery
    GET /apis/results.kubecanvas.io/v1alpha1/namespaces/NS/workflowresults/NAME
        a WorkflowResult: the Workflow's document (what `kubecanvas get -o json` prints)
        with `apiVersion`, `kind` and `metadata`
    POST /apis/results.kubecanvas.io/v1alpha1/namespaces/NS/workflowcanvases
        a WorkflowCanvas: the stored part of a spec too large for etcd (`canvas`, `args`,
        `kwargs`; see `kubecanvas.canvas.offload`), kept in Redis for the Workflow that will
        name it; answered with its `canvasRef` (`sha256`, `bytes`). Allowed to whoever may
        create Workflows in NS, which the Workflow's own admission then checks again.

The chart registers it with the API server's aggregation layer (an APIService), so that
`kubectl get workflowresult NAME -o yaml` and `kubecanvas get` reach it with the user's own
credentials, checked twice: by the API server (`get` on `workflowresults`) and here (`get` on
the Workflow itself; `callers` says who is asking and how that is believed). A pod of the
cluster may also call it directly at the operator's Service with a bearer token.

Served over TLS only (a bearer token never crosses the network in clear), on
`KUBECANVAS_API_PORT` (default 8443; 0 turns it off) with the certificate and key in
`KUBECANVAS_API_CERT` and `KUBECANVAS_API_KEY` (without them, it is off). Errors are
Kubernetes `Status` objects, so kubectl prints their message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import ssl
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from redis import RedisError

from kubecanvas._kits.jsonvalues import loads
from kubecanvas.canvas.offload import (
    MAX_STORED_BYTES,
    STORED_FIELDS,
    UPLOAD_TTL_SECONDS,
    CanvasRef,
    stored_text,
)
from kubecanvas.client.documents import document_of, result_object
from kubecanvas.errors import KubeApiError
from kubecanvas.resources import WORKFLOW_CANVAS, WORKFLOW_RESULT
from kubecanvas.store.hostside import WorkflowStore
from kubecanvas_operator.callers import AUTHENTICATION_CONFIGMAP, Caller, CallerCheck, RequestHeaders
from kubecanvas_operator.config import OperatorConfig
from kubecanvas_operator.httpapi import port_setting
from kubecanvas_operator.kube import KubeApi

__all__ = ["DEFAULT_API_PORT", "build_results_app", "results_api_settings", "serve_results_api"]

logger = logging.getLogger(__name__)

DEFAULT_API_PORT = 8443
PORT_ENV = "KUBECANVAS_API_PORT"
CERT_ENV = "KUBECANVAS_API_CERT"
KEY_ENV = "KUBECANVAS_API_KEY"

_API: web.AppKey[KubeApi] = web.AppKey("api", KubeApi)
_STORE: web.AppKey[WorkflowStore] = web.AppKey("store", WorkflowStore)
_CONFIG: web.AppKey[OperatorConfig] = web.AppKey("config", OperatorConfig)
_CALLERS: web.AppKey[CallerCheck] = web.AppKey("callers", CallerCheck)
_CALLER: web.RequestKey[Caller] = web.RequestKey("caller", Caller)

_GROUP_VERSION = f"/apis/{WORKFLOW_RESULT.group}/{WORKFLOW_RESULT.version}"


def results_api_settings(environ: Mapping[str, str] = os.environ) -> tuple[int, str, str] | None:
    """(port, certificate file, key file), or None when the API is off."""
    port = port_setting(environ, PORT_ENV, DEFAULT_API_PORT)
    cert, key = environ.get(CERT_ENV), environ.get(KEY_ENV)
    if port == 0 or not cert or not key:
        return None
    return port, cert, key


def build_results_app(
    api: KubeApi, store: WorkflowStore, config: OperatorConfig, callers: CallerCheck
) -> web.Application:
    # The body limit is the largest stored part, plus room for the object's own fields.
    app = web.Application(middlewares=[_authenticated], client_max_size=MAX_STORED_BYTES + 64 * 1024)
    app[_API], app[_STORE], app[_CONFIG], app[_CALLERS] = api, store, config, callers
    app.router.add_get(f"/apis/{WORKFLOW_RESULT.group}", _group)
    app.router.add_get(_GROUP_VERSION, _resources)
    app.router.add_get(
        f"{_GROUP_VERSION}/namespaces/{{namespace}}/{WORKFLOW_RESULT.plural}/{{name}}", _result
    )
    app.router.add_post(f"{_GROUP_VERSION}/namespaces/{{namespace}}/{WORKFLOW_CANVAS.plural}", _upload)
    return app


def server_context(cert: str, key: str, request_headers: RequestHeaders | None) -> ssl.SSLContext:
    """TLS with the operator's serving certificate; a client certificate is asked for, and
    verified against the request-header CA, so that the aggregation layer can prove itself."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if request_headers is not None:
        context.load_verify_locations(cadata=request_headers.client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


async def load_request_headers(api: KubeApi) -> RequestHeaders | None:
    """How the API server vouches for users, or None (only bearer tokens are then believed)."""
    namespace, name = AUTHENTICATION_CONFIGMAP
    try:
        data = await api.get_configmap_data(namespace, name)
    except KubeApiError as error:
        logger.warning(
            "results API: cannot read %s/%s (%s): only bearer tokens are accepted, "
            "and the API server's aggregation layer cannot reach it",
            namespace,
            name,
            error,
        )
        return None
    headers = RequestHeaders.from_configmap(data or {})
    if headers is None:
        logger.warning(
            "results API: the API server has no aggregation layer; only bearer tokens are accepted"
        )
    return headers


async def serve_results_api(api: KubeApi, store: WorkflowStore, config: OperatorConfig) -> None:
    """Serve until cancelled (the operator's cleanup cancels it)."""
    try:
        settings = results_api_settings()
    except ValueError as error:
        logger.error("results API disabled: %s", error)
        return
    if settings is None:
        logger.info("results API disabled (no %s/%s, or %s=0)", CERT_ENV, KEY_ENV, PORT_ENV)
        return
    port, cert, key = settings
    request_headers = await load_request_headers(api)
    callers = CallerCheck(api, api, request_headers)
    runner = web.AppRunner(build_results_app(api, store, config, callers), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "0.0.0.0", port, ssl_context=server_context(cert, key, request_headers))  # noqa: S104
        try:
            await site.start()
        except OSError as error:
            logger.error("results API not served: cannot listen on port %d: %s", port, error)
            return
        logger.info("results API on port %d (TLS): %s", port, _GROUP_VERSION)
        await asyncio.Event().wait()
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()


@web.middleware
async def _authenticated(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every request is authenticated first: 401 for a caller no one vouches for."""
    try:
        caller = await request.app[_CALLERS].authenticate(
            request.headers, request.headers.getall, _peer_common_name(request)
        )
    except KubeApiError as error:
        return _status(503, "ServiceUnavailable", f"cannot review the caller's token: {error}")
    if caller is None:
        return _status(401, "Unauthorized", "Unauthorized: a bearer token or the API server's word is needed")
    request[_CALLER] = caller
    response: web.StreamResponse = await handler(request)
    return response


def _peer_common_name(request: web.Request) -> str | None:
    """The CN of a client certificate that TLS verified (CERT_OPTIONAL: verified or absent)."""
    transport = request.transport
    peer = transport.get_extra_info("peercert") if transport is not None else None
    for rdn in (peer or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


async def _group(request: web.Request) -> web.Response:
    version = {"groupVersion": WORKFLOW_RESULT.api_version, "version": WORKFLOW_RESULT.version}
    body = {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": WORKFLOW_RESULT.group,
        "versions": [version],
        "preferredVersion": version,
    }
    return web.json_response(body)


async def _resources(request: web.Request) -> web.Response:
    resources = [
        {
            "name": resource.plural,
            "singularName": resource.kind.lower(),
            "namespaced": True,
            "kind": resource.kind,
            "verbs": [verb],
        }
        for resource, verb in ((WORKFLOW_RESULT, "get"), (WORKFLOW_CANVAS, "create"))
    ]
    body = {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": WORKFLOW_RESULT.api_version,
        "resources": resources,
    }
    return web.json_response(body)


async def _upload(request: web.Request) -> web.Response:
    """Keep a large spec's stored part until its Workflow comes (`canvas.offload`)."""
    caller, namespace = request[_CALLER], request.match_info["namespace"]
    refused = await _refusal(request, "create", None, f"{WORKFLOW_CANVAS.plural}.{WORKFLOW_CANVAS.group}")
    if refused is not None:
        return refused
    try:
        body = loads(await request.read())
    except ValueError as error:
        return _status(400, "BadRequest", f"a {WORKFLOW_CANVAS.kind} must be JSON: {error}")
    problem = _upload_problem(body)
    if problem:
        return _status(422, "Invalid", f"{WORKFLOW_CANVAS.kind} is invalid: {problem}")
    assert isinstance(body, dict)
    text = stored_text(body)
    ref = CanvasRef.of(text)
    if ref.bytes > MAX_STORED_BYTES:
        too_large = f"a canvas of {ref.bytes:,} bytes is over the limit of {MAX_STORED_BYTES:,}"
        return _status(413, "RequestEntityTooLarge", too_large)
    try:
        await request.app[_STORE].put_upload(namespace, ref.sha256, text, UPLOAD_TTL_SECONDS)
    except (RedisError, OSError) as error:
        return _status(503, "ServiceUnavailable", f"cannot keep the canvas in Redis: {error}")
    logger.info(
        "results API: %s uploaded canvas %s to namespace %s", caller.username, ref, namespace,
        extra={"namespace": namespace, "canvas": ref.sha256, "bytes": ref.bytes},
    )  # fmt: skip
    answer = {
        "apiVersion": WORKFLOW_CANVAS.api_version,
        "kind": WORKFLOW_CANVAS.kind,
        "metadata": {"name": f"sha256-{ref.sha256}", "namespace": namespace},
        **ref.to_json(),
    }
    return web.json_response(answer, status=201)


def _upload_problem(body: object) -> str | None:
    """What is wrong with an uploaded WorkflowCanvas's shape (its canvas is checked when the
    Workflow that names it is admitted, with the Workflow's own field paths)."""
    if not isinstance(body, dict):
        return "must be a JSON object"
    allowed = {"apiVersion", "kind", "metadata", *STORED_FIELDS}
    unknown = sorted(set(body) - allowed)
    if unknown:
        return f"unknown fields {unknown}; a {WORKFLOW_CANVAS.kind} holds {', '.join(STORED_FIELDS)}"
    if not isinstance(body.get("canvas"), dict):
        return "canvas: required, a mapping"
    if not isinstance(body.get("args", []), list):
        return "args: must be a list"
    if not isinstance(body.get("kwargs", {}), dict):
        return "kwargs: must be a mapping"
    return None


async def _result(request: web.Request) -> web.Response:
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    refused = await _refusal(
        request, "get", name, f'{WORKFLOW_RESULT.plural}.{WORKFLOW_RESULT.group} "{name}"'
    )
    if refused is not None:
        return refused
    try:
        body = await request.app[_API].get_workflow(namespace, name)
    except KubeApiError as error:
        return _status(503, "ServiceUnavailable", f"cannot read workflow {namespace}/{name}: {error}")
    if body is None:
        return _status(404, "NotFound", f'workflow "{name}" not found in namespace "{namespace}"')
    try:
        document = await document_of(body, request.app[_STORE])
    except (RedisError, OSError) as error:
        return _status(
            503, "ServiceUnavailable", f"cannot read workflow {namespace}/{name} from Redis: {error}"
        )
    return web.Response(
        text=json.dumps(result_object(body, document), ensure_ascii=False), content_type="application/json"
    )


async def _refusal(request: web.Request, verb: str, name: str | None, resource: str) -> web.Response | None:
    """The answer to a caller who may not `verb` the Workflow `name` (Workflows, for None) of
    the request's namespace, or to one about a namespace not watched here; None otherwise.
    `resource` is what the request named, as the 403 says it."""
    caller, namespace = request[_CALLER], request.match_info["namespace"]
    try:
        allowed, reason = await request.app[_CALLERS].may(caller, namespace, verb, name)
    except KubeApiError as error:
        return _status(503, "ServiceUnavailable", f"cannot check {caller.username}'s access: {error}")
    if not allowed:
        because = f": {reason}" if reason else ""
        what = f'workflow "{name}"' if name is not None else "workflows"
        message = (
            f'{resource} is forbidden: user "{caller.username}" '
            f'cannot {verb} {what} in namespace "{namespace}"{because}'
        )
        return _status(403, "Forbidden", message)
    if not request.app[_CONFIG].watches(namespace):
        return _status(404, "NotFound", f"namespace {namespace} is not watched by this operator")
    return None


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return web.json_response(body, status=code)
