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
from pathlib import Path
from typing import Any

from kubecanvas.errors import ClusterError

__all__ = ["get_object"]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def get_object(path: str, *, timeout: float = 5.0, attempts: int = 4) -> dict[str, Any]:
    """GET an API path such as `/api/v1/namespaces/ns/configmaps/name`.

    A connection that does not answer, or a 429/5xx, is tried again on a new connection
    (`attempts` in all, `timeout` each, short pauses between): one lost SYN would otherwise
    hold the task for the kernel's whole retransmission schedule (~15 s) or fail it outright.
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
    request = urllib.request.Request(
        f"https://{address}:{port}{urllib.parse.quote(path)}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(request, context=context, timeout=timeout) as response:  # noqa: S310 - https only
                body: dict[str, Any] = json.load(response)
                return body
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            with contextlib.suppress(ValueError, AttributeError):
                detail = json.loads(detail).get("message", detail)
            failure = ClusterError(f"GET {path}: HTTP {error.code}: {detail}")
            if error.code != 429 and error.code < 500:
                raise failure from None
        except (urllib.error.URLError, OSError) as error:
            failure = ClusterError(f"GET {path}: {error} (after {attempt} attempts)")
        if attempt < attempts:
            time.sleep(0.2 * attempt)
    raise failure
