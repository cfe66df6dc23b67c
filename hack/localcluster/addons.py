"""What the cluster runs for its users: cluster DNS (CoreDNS) and a default storage class.

CoreDNS runs as a pod behind the `kube-dns` Service, as on any cluster, and answers only for
the cluster domain (no `forward`: nothing resolves names outside the machine). The storage
class `standard` is backed by a pool of hostPath volumes under .cluster/node/volumes, each
world-writable so that a non-root pod (the chart's Redis runs as uid 999) can use it; a
volume released by its claim is wiped and offered again by the next `up`.
"""

from __future__ import annotations

import shutil
from typing import Any

from .apiclient import api, apply, kubectl
from .processes import say
from .settings import CLUSTER_DOMAIN, COREDNS_IMAGE_PATH, DNS_IP, NODE_STATE, pinned_versions

STORAGE_CLASS = "standard"
VOLUMES = NODE_STATE / "volumes"
VOLUME_COUNT = 8
VOLUME_SIZE = "20Gi"
LABELS = {"app.kubernetes.io/managed-by": "kubecanvas-cluster"}

COREFILE = f""".:53 {{
    errors
    health :8080
    ready :8181
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    cache 30
    loadbalance
}}
"""


def coredns_image() -> str:
    return f"registry.k8s.io/{COREDNS_IMAGE_PATH}:{pinned_versions()['COREDNS_VERSION']}"


def _coredns() -> list[dict[str, Any]]:
    name, namespace = "coredns", "kube-system"
    labels = {"k8s-app": "kube-dns"}
    meta = {"name": name, "namespace": namespace, "labels": {**labels, **LABELS}}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "kubecanvas:coredns", "labels": LABELS},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "kubecanvas:coredns", "labels": LABELS},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "kubecanvas:coredns",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"Corefile": COREFILE}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": name,
                        "priorityClassName": "system-cluster-critical",
                        "dnsPolicy": "Default",
                        "containers": [
                            {
                                "name": name,
                                "image": coredns_image(),
                                "args": ["-conf", "/etc/coredns/Corefile"],
                                "ports": [
                                    {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                    {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                                ],
                                "resources": {
                                    "requests": {"cpu": "50m", "memory": "40Mi"},
                                    "limits": {"memory": "170Mi"},
                                },
                                "readinessProbe": {
                                    "httpGet": {"path": "/ready", "port": 8181},
                                    "periodSeconds": 1,
                                },
                                "livenessProbe": {
                                    "httpGet": {"path": "/health", "port": 8080},
                                    "periodSeconds": 10,
                                },
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
                                },
                                "volumeMounts": [
                                    {"name": "config", "mountPath": "/etc/coredns", "readOnly": True}
                                ],
                            }
                        ],
                        "volumes": [{"name": "config", "configMap": {"name": name}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": namespace, "labels": {**labels, **LABELS}},
            "spec": {
                "selector": labels,
                "clusterIP": DNS_IP,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                ],
            },
        },
    ]


def _volume(index: int) -> dict[str, Any]:
    path = VOLUMES / f"pv-{index}"
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o1777)
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"kubecanvas-local-{index}", "labels": LABELS},
        "spec": {
            "storageClassName": STORAGE_CLASS,
            "capacity": {"storage": VOLUME_SIZE},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": str(path), "type": "Directory"},
        },
    }


def _storage() -> list[dict[str, Any]]:
    storage_class = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "labels": LABELS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "kubernetes.io/no-provisioner",
        "volumeBindingMode": "WaitForFirstConsumer",
        "reclaimPolicy": "Retain",
    }
    return [storage_class, *(_volume(index) for index in range(VOLUME_COUNT))]


def _recycle_released_volumes() -> None:
    """A volume whose claim is gone is wiped and made Available again."""
    listing = api(
        "/api/v1/persistentvolumes?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dkubecanvas-cluster"
    )
    for volume in (listing or {}).get("items", []):
        if volume.get("status", {}).get("phase") != "Released":
            continue
        name = volume["metadata"]["name"]
        shutil.rmtree(volume["spec"]["hostPath"]["path"], ignore_errors=True)
        kubectl(
            "patch",
            "persistentvolume",
            name,
            "--type",
            "json",
            "-p",
            '[{"op":"remove","path":"/spec/claimRef"}]',
        )
        say(f"recycled volume {name}")


def install() -> None:
    _recycle_released_volumes()
    apply(_coredns() + _storage())  # (re)makes each volume's directory too


def coredns_ready() -> bool:
    deployment = api("/apis/apps/v1/namespaces/kube-system/deployments/coredns")
    return bool(deployment and deployment.get("status", {}).get("readyReplicas", 0) >= 1)
