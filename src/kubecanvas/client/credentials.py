"""Which cluster, as whom: one rule for every Kubernetes client kubecanvas makes.

kubectl's precedence: an explicit kubeconfig file, else `$KUBECONFIG`, else the pod's
service account when running in a pod, else `~/.kube/config`. The CLI and the Python
client, the operator's API adapter and the operator's kopf login all follow it, so the
operator's watches and its writes cannot end up talking to two different clusters.
"""

from __future__ import annotations

import os

from kubernetes import client, config

from kubecanvas.errors import ClusterError

__all__ = ["kube_configuration", "kubeconfig_file"]


def kubeconfig_file(explicit: str | None = None) -> str | None:
    """The kubeconfig file to read: `explicit`, else `$KUBECONFIG` as it is now (the client
    library reads the variable once, when imported), else None (the library's default)."""
    return explicit or os.environ.get("KUBECONFIG") or None


def kube_configuration(kubeconfig: str | None = None) -> client.Configuration:
    """A client configuration by the rule above; ClusterError saying why when none works."""
    configuration = client.Configuration()
    path = kubeconfig_file(kubeconfig)
    try:
        if path is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            config.load_kube_config(config_file=path, client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError) as error:
        raise ClusterError(
            f"no cluster credentials ({error}): set KUBECONFIG, or KUBECANVAS_BACKEND=local "
            "to run workflows here without a cluster"
        ) from None
    return configuration
