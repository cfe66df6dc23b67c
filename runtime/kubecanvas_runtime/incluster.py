"""Read one object from the Kubernetes API with the pod's service account.

A few lines of urllib instead of the Kubernetes client: the runtime only ever reads
a ConfigMap, and every task pod would pay the client's import time.
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubecanvas.errors import ClusterError, KubeApiError

__all__ = ["RETRY_FOR", "get_object"]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

RETRY_FOR = 120.0
"""Seconds an API server that does not answer (or answers 429/5xx) is tried again: restarts
of the control plane (an upgrade, a crash) last tens of seconds, and a task must not fail
for one. The pod waits, holding its slot; then it exits as unable to reach the API."""


def _ready(base: str, context: ssl.SSLContext | None, timeout: float) -> bool:
    """Whether the API server says it is ready (`/readyz`: open to everyone, no token)."""
    try:
        with urllib.request.urlopen(f"{base}/readyz", context=context, timeout=timeout):  # noqa: S310 - https only
            return True
    except (urllib.error.URLError, OSError):  # an HTTPError (not ready) is a URLError too
        return False


def get_object(
    path: str,
    *,
    timeout: float = 5.0,
    retry_for: float = RETRY_FOR,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """GET an API path such as `/api/v1/namespaces/ns/configmaps/name`.

    A connection that does not answer, or a 429/5xx, is tried again on a new connection
    (`timeout` each, backing off from 0.2 s to 5 s) for `retry_for` seconds: one lost SYN
    would otherwise hold the task for the kernel's whole retransmission schedule (~15 s),
    and an API server restart would fail it. A refusal (403, 404) is a KubeApiError with its
    status at once, unless the server says it is not ready yet (a 401/403 of a server still
    filling its caches); giving up on an unreachable server, one with status 0.
    """
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise ClusterError("not running in a pod: KUBERNETES_SERVICE_HOST is not set")
    try:
        token = (SERVICE_ACCOUNT_DIR / "token").read_text().strip()
    except OSError as error:
        raise ClusterError(
            f"no service account token ({error}); is automountServiceAccountToken off?"
        ) from None
    context = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT_DIR / "ca.crt"))
    address = f"[{host}]" if ":" in host else host
    base = f"https://{address}:{port}"
    request = urllib.request.Request(  # noqa: S310 - https only
        f"{base}{urllib.parse.quote(path)}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    give_up_at, delay, attempt = clock() + retry_for, 0.2, 0
    while True:
        attempt += 1
        try:
            with urllib.request.urlopen(request, context=context, timeout=timeout) as response:  # noqa: S310 - https only
                body: dict[str, Any] = json.load(response)
                return body
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            with contextlib.suppress(ValueError, AttributeError):
                detail = json.loads(detail).get("message", detail)
            unready = error.code in KubeApiError.UNSURE and not _ready(base, context, timeout)
            failure = KubeApiError(error.code, f"GET {path}: HTTP {error.code}: {detail}", unready=unready)
            if not failure.transient:
                raise failure from None
        except (urllib.error.URLError, OSError) as error:
            failure = KubeApiError(0, f"GET {path}: {error}")
        if clock() + delay > give_up_at:
            raise failure.restated(f"{failure} (after {attempt} attempts in {retry_for:g}s)")
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
