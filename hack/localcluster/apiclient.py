"""A few calls to the cluster's endpoints on this host: health checks, reads, kubectl.

Standard library only; certificates from .cluster/pki.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.error
import urllib.request
from typing import Any

from .processes import ClusterError
from .settings import APISERVER_URL, BIN, KUBECONFIG, PKI


def _tls(client: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(PKI / "ca.crt"))
    if client:
        context.load_cert_chain(str(PKI / f"{client}.crt"), str(PKI / f"{client}.key"))
    return context


def http_get(url: str, client: str | None = "admin", timeout: float = 2) -> tuple[int, bytes]:
    """GET a URL of the cluster's; (0, b"") when nothing answers."""
    context = _tls(client) if url.startswith("https") else None
    try:
        # S310: the URLs are built from the cluster's own addresses, never taken from input.
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (OSError, ssl.SSLError):
        return 0, b""


def api(path: str) -> dict[str, Any] | None:
    status, body = http_get(f"{APISERVER_URL}{path}")
    return json.loads(body) if status == 200 else None


def kubectl(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(BIN / "kubectl"), "--kubeconfig", str(KUBECONFIG), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args[:3])} failed: {result.stderr.strip()}")
    return result.stdout


def apply(documents: list[dict[str, Any]]) -> None:
    """Server-side apply, so a second `up` converges instead of failing on what exists."""
    stream = "\n---\n".join(json.dumps(document) for document in documents)
    kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager",
        "kubecanvas-cluster",
        "-f",
        "-",
        stdin=stream,
    )
