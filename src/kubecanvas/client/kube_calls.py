"""One way to call the Kubernetes API, for the CLI's synchronous client (`cluster.WorkflowApi`)
and the operator's asynchronous one (`kubecanvas_operator.kube.KubeApi`, which runs these calls
in a thread pool).

Calls skip the `kubernetes` client's model decoding (`_preload_content=False`): the body is
plain JSON, and a fan-out of hundreds of Jobs is limited by the API server, not by us. Every
failure is a `KubeApiError` carrying the HTTP status and the API server's own message; one
that never reached the API server (connection refused, DNS, TLS, a timeout) has status 0 and
is `transient` — never a raw urllib3 or socket error. A 401 or 403 from a server whose
`/readyz` says it is still starting is `transient` too (`KubeApiError.unready`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException

from kubecanvas.errors import KubeApiError

__all__ = ["api_message", "call", "call_json", "ready"]


def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The raw response of one client call (for logs and streams); KubeApiError on any failure."""
    try:
        return function(*args, _preload_content=False, **kwargs)
    except ApiException as error:
        status = error.status or 0
        unready = status in KubeApiError.UNSURE and not ready(function)
        raise KubeApiError(status, api_message(error), unready=unready) from None
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise KubeApiError(0, f"cannot reach the Kubernetes API: {error}") from None


def ready(function: Callable[..., Any]) -> bool:
    """Whether the API server that `function` (a bound method of a client API class) talks
    to says it is ready (`/readyz`); True when that cannot be asked (the refusal stands)."""
    api_client = getattr(getattr(function, "__self__", None), "api_client", None)
    if api_client is None:
        return True
    try:
        method, url, headers, _, _ = api_client.param_serialize(
            "GET", "/readyz", auth_settings=["BearerToken"]
        )
        response = api_client.call_api(method, url, header_params=headers, _request_timeout=5)
    except (ApiException, urllib3.exceptions.HTTPError, OSError):
        return False  # gone again
    return bool(response.status == 200)  # else 500, naming the checks that failed: still starting


def call_json(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The JSON body of one client call, or None when the object does not exist (404)."""
    try:
        response = call(function, *args, **kwargs)
    except KubeApiError as error:
        if error.status == 404:
            return None
        raise
    data = response.data
    return json.loads(data) if data else {}


def api_message(error: ApiException) -> str:
    """What the API server said: a Status's `message`; through the service proxy, the
    operator's own `{"error": ...}`; else the HTTP status line."""
    try:
        body = json.loads(error.body or "{}")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and (said := body.get("message") or body.get("error")):
        return str(said)
    return f"HTTP {error.status} {error.reason}"
