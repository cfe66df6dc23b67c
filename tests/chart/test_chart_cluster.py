"""The Helm chart on the local cluster: every rendering accepted by the API server (dry
run), then a real install, a Workflow through it, `helm test`, the webhook refusing an
invalid Workflow, and an uninstall that leaves nothing of the release but the CRDs.

The installed operator watches only the test's namespace, reads its own Redis stream with
its own consumer group, listens on free ports and binds a task ClusterRole of its own: the
e2e suite's operator (a cluster-wide local process on the same cluster and Redis, started
later in a normal session) never sees its task news nor loses its ClusterRole. Run at the
same moment, that cluster-wide operator would also see this test's Workflows: don't.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartkit import CHART, COMBINATIONS, ROOT, helm, template_text, values_file

from support.cluster import Cluster
from support.operator import free_port
from support.waiting import wait_until

pytestmark = pytest.mark.cluster

EXAMPLES = ROOT / "examples"
# Kinds the API server cannot know without cert-manager installed: validated by the static tests.
CERT_MANAGER_KINDS = {("cert-manager.io/v1", "Issuer"), ("cert-manager.io/v1", "Certificate")}

# Every kind the chart creates (templates, peering objects and test hooks), namespaced and
# cluster-scoped: after `helm uninstall` none may carry the release's instance label.
NAMESPACED_KINDS = [
    "deployments.apps", "replicasets.apps", "pods", "statefulsets.apps", "services", "secrets",
    "configmaps", "serviceaccounts", "roles.rbac.authorization.k8s.io",
    "rolebindings.rbac.authorization.k8s.io", "poddisruptionbudgets.policy",
    "persistentvolumeclaims", "kopfpeerings.kopf.dev",
]  # fmt: skip
CLUSTER_KINDS = [
    "clusterroles.rbac.authorization.k8s.io", "clusterrolebindings.rbac.authorization.k8s.io",
    "validatingwebhookconfigurations.admissionregistration.k8s.io", "clusterkopfpeerings.kopf.dev",
]  # fmt: skip


def helm_env(cluster: Cluster) -> dict[str, str]:
    return {"KUBECONFIG": str(cluster.kubeconfig)}


def apply_chart_crds(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", str(CHART / "crds"))
    for crd in ("workflows.kubecanvas.io", "kopfpeerings.kopf.dev", "clusterkopfpeerings.kopf.dev"):
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")


def kubectl_result(
    cluster: Cluster, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / ".bin" / "kubectl"), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        check=False,
    )


# ------------------------------------------------------------------------- server-side validation


def localized(values: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The combination, with its watched namespaces replaced by the test's (which exists)."""
    values = copy.deepcopy(values)
    if values.get("watchNamespaces"):
        values["watchNamespaces"] = [namespace]
    return values


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_rendering_is_valid_for_the_api_server(
    combination: str, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    apply_chart_crds(cluster)
    values = localized(COMBINATIONS[combination], namespace)
    docs = [d for d in yaml.safe_load_all(template_text(tmp_path, values, namespace=namespace)) if d]
    known = [d for d in docs if (d["apiVersion"], d["kind"]) not in CERT_MANAGER_KINDS]
    left_out = sorted(d["kind"] for d in docs if d not in known)
    assert left_out == {
        "cert-manager": ["Certificate", "Issuer"],
        "cert-manager-issuer": ["Certificate"],
    }.get(combination, [])
    # A Pod is admitted only if its ServiceAccount exists, and a dry run creates nothing: the
    # ServiceAccounts (the test hook's pod needs its own) are created for real first, in the
    # test's throwaway namespace.
    accounts = [d for d in known if d["kind"] == "ServiceAccount"]
    cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input="\n---\n".join(json.dumps(d) for d in accounts)
    )
    result = kubectl_result(
        cluster, "apply", "--dry-run=server", "-n", namespace, "-f", "-",
        input="\n---\n".join(json.dumps(d) for d in known),
    )  # fmt: skip
    assert result.returncode == 0, f"{combination}: the API server refused the rendering:\n{result.stderr}"
    accepted = [line for line in result.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(accepted) == len(known), result.stdout


# ------------------------------------------------------------------------- install, use, test, uninstall


@pytest.fixture
def release(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The chart installed into the test's namespace, watching only it; uninstalled at the end
    (the test checks the uninstall itself; this is the safety net when it failed early)."""
    apply_chart_crds(cluster)
    name = "kc-" + namespace.rsplit("-", 1)[-1]
    webhook_port, health_port, http_port = free_port(), free_port(), free_port()
    values = {
        "watchNamespaces": [namespace],
        "redis": {"enabled": False, "external": {"url": cluster.redis_url}},
        "config": {
            "statusInterval": 0.2,
            # Our own stream and consumer group: another operator on the shared cluster's
            # Redis (the e2e suite's) never reads our tasks' news, nor we its.
            "eventsStream": f"kubecanvas:events:{namespace}",
            "consumerGroup": f"kubecanvas-operator-{namespace}",
        },
        # A ClusterRole name of its own: the e2e suite's `kubecanvas-task` is left alone.
        "tasks": {"clusterRole": {"name": f"kubecanvas-task-{namespace}"}},
        "operator": {"healthPort": health_port, "httpPort": http_port, "logFormat": "text"},
        # The local cluster has no Service routing to pods: the API server calls the pod's
        # port on loopback, where every pod listens.
        "webhook": {"enabled": True, "port": webhook_port, "url": f"https://127.0.0.1:{webhook_port}"},
    }
    info = {"name": name, "namespace": namespace, "values": values, "file": values_file(tmp_path, values)}
    yield info
    helm(
        "uninstall", name, "-n", namespace, "--wait", "--ignore-not-found", check=False, env=helm_env(cluster)
    )
    cluster.kubectl("delete", "clusterrole", f"kubecanvas-task-{namespace}", "--ignore-not-found")


def release_objects(cluster: Cluster, release: str) -> list[str]:
    """`kind/name` of everything that carries the release's instance label, anywhere."""
    selector = f"app.kubernetes.io/instance={release}"
    found = []
    for kind in NAMESPACED_KINDS:
        out = cluster.kubectl("get", kind, "-A", "-l", selector, "-o", "name")
        found += out.split()
    for kind in CLUSTER_KINDS:
        out = cluster.kubectl("get", kind, "-l", selector, "-o", "name")
        found += out.split()
    return found


def invalid_workflow() -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "kubecanvas.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "invalid"},
            "spec": {
                "canvas": {
                    "chain": [
                        {"task": "conftasks.add", "args": [1, 2]},
                        {"chord": {"header": [{"task": "conftasks.add", "args": [3]}]}},
                    ]
                }
            },
        }
    )


def test_install_run_test_and_uninstall(cluster: Cluster, release: dict[str, Any]) -> None:
    name, namespace, env = release["name"], release["namespace"], helm_env(cluster)

    # helm install --wait: the operator Deployment is Ready (kopf answered its probe, after
    # its startup handler reached Redis).
    helm(
        "install", name, str(CHART), "-n", namespace, "-f", str(release["file"]),
        "--wait", "--timeout", "3m", env=env,
    )  # fmt: skip
    deployment = cluster.get("deployment", f"{name}-kubecanvas-operator", namespace)
    assert deployment["status"].get("readyReplicas") == 1, deployment["status"]

    # The quickstart, as a user runs it.
    cluster.kubectl(
        "create", "configmap", "conftasks", "-n", namespace, f"--from-file={EXAMPLES / 'conftasks.py'}"
    )
    cluster.kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / "quickstart.yaml"))

    def finished() -> str | None:
        phase = cluster.kubectl(
            "get", "workflow", "quickstart", "-n", namespace, "-o", "jsonpath={.status.phase}"
        )
        return phase if phase in ("Succeeded", "Failed", "Revoked") else None

    phase = wait_until(finished, timeout=180, what="the quickstart workflow to finish")
    listing = cluster.kubectl("get", "workflows", "-n", namespace)
    assert phase == "Succeeded", (
        f"{listing}\n{cluster.get('workflow', 'quickstart', namespace).get('status')}"
    )
    assert "quickstart" in listing
    assert "Succeeded" in listing
    result = cluster.kubectl(
        "get", "workflow", "quickstart", "-n", namespace, "-o", "jsonpath={.status.result}"
    )
    assert result == "385"
    # The operator's HTTP API answers on its port (pods share this host's network here).
    http_port = release["values"]["operator"]["httpPort"]
    with urllib.request.urlopen(
        f"http://127.0.0.1:{http_port}/api/v1/workflows/{namespace}/quickstart"
    ) as reply:
        assert json.load(reply)["result"] == 385

    # helm test: its pod creates, awaits and deletes a one-task Workflow, and checks the webhook.
    tested = helm("test", name, "-n", namespace, "--logs", "--timeout", "3m", env=env, check=False)
    assert tested.returncode == 0, f"helm test failed:\n{tested.stdout}\n{tested.stderr}"
    assert "Phase:          Succeeded" in tested.stdout
    assert "succeeded with result 144" in tested.stdout
    assert "PASSED" in tested.stdout

    # The webhook refuses an invalid Workflow, naming the field.
    refused = kubectl_result(cluster, "apply", "-n", namespace, "-f", "-", input=invalid_workflow())
    assert refused.returncode != 0, f"an invalid Workflow was accepted: {refused.stdout}"
    assert 'admission webhook "validate.workflows.kubecanvas.io" denied the request' in refused.stderr
    assert "spec.canvas.chain[1].chord: 'body' is required" in refused.stderr
    assert kubectl_result(cluster, "get", "workflow", "invalid", "-n", namespace).returncode != 0

    # Uninstall: nothing of the release is left but the CRDs.
    before = release_objects(cluster, name)
    assert f"deployment.apps/{name}-kubecanvas-operator" in before  # the label query sees the release
    assert f"validatingwebhookconfiguration.admissionregistration.k8s.io/{name}-kubecanvas-webhook" in before
    cluster.kubectl("delete", "workflow", "quickstart", "-n", namespace, "--wait")
    helm("uninstall", name, "-n", namespace, "--wait", "--timeout", "2m", env=env)
    wait_until(
        lambda: release_objects(cluster, name) == [], timeout=60, what="every object of the release to go"
    )
    for kind, object_name in [
        ("clusterrole", f"{name}-kubecanvas-operator"),
        ("clusterrolebinding", f"{name}-kubecanvas-operator"),
        ("clusterrole", f"kubecanvas-task-{namespace}"),
        ("validatingwebhookconfiguration", f"{name}-kubecanvas-webhook"),
    ]:
        assert kubectl_result(cluster, "get", kind, object_name).returncode != 0, (
            f"{kind} {object_name} is left"
        )
    # Helm's own record of the release (a Secret per revision) is gone too.
    assert (
        cluster.kubectl("get", "secrets", "-n", namespace, "-l", f"owner=helm,name={name}", "-o", "name")
        == ""
    )
    assert name not in helm("list", "-n", namespace, "-q", env=env).stdout.split()
    for crd in ("workflows.kubecanvas.io", "kopfpeerings.kopf.dev", "clusterkopfpeerings.kopf.dev"):
        cluster.kubectl("get", "crd", crd)  # CRDs stay: Helm never deletes them (nor the Workflows)


def test_bundled_redis_and_upgrades_keep_generated_secrets(
    cluster: Cluster, release: dict[str, Any], tmp_path: Path
) -> None:
    """The bundled Redis starts with the password the chart generated, and `helm upgrade`
    keeps that password and the webhook certificate (until the webhook's host changes)."""
    import base64

    import redis

    name, namespace, env = release["name"], release["namespace"], helm_env(cluster)
    port = free_port()
    # On the local cluster the redis container's command runs on this host: a free port.
    values = {
        **release["values"],
        "redis": {"enabled": True, "port": port, "persistence": {"enabled": False}},
    }
    path = values_file(tmp_path, values, "bundled.yaml")
    # No --wait: the operator cannot resolve the Redis Service's name here (no cluster DNS).
    helm("install", name, str(CHART), "-n", namespace, "-f", str(path), env=env)

    def secrets() -> tuple[str, str]:
        cert = cluster.get("secret", f"{name}-kubecanvas-webhook-cert", namespace)["data"]["tls.crt"]
        password = cluster.get("secret", f"{name}-kubecanvas-redis", namespace)["data"]["password"]
        return cert, password

    first = secrets()
    password = base64.b64decode(first[1]).decode()

    def redis_ready() -> bool:
        pod = cluster.get("pod", f"{name}-kubecanvas-redis-0", namespace)
        return any(
            c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
        )

    wait_until(redis_ready, timeout=60, what="the bundled Redis to pass its readiness probe (redis-cli ping)")
    client = redis.Redis(host="127.0.0.1", port=port, password=password)
    try:
        assert client.ping()
        assert client.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        client.close()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port).ping()

    helm(
        "upgrade",
        name,
        str(CHART),
        "-n",
        namespace,
        "-f",
        str(path),
        "--set",
        "tasks.jobTTLSeconds=7",
        env=env,
    )
    assert secrets() == first
    # A new webhook host needs a new certificate: it is made, and the password still kept.
    helm(
        "upgrade", name, str(CHART), "-n", namespace, "-f", str(path),
        "--set", f"webhook.url=https://localhost:{values['webhook']['port']}", env=env,
    )  # fmt: skip
    cert, kept = secrets()
    assert cert != first[0]
    assert kept == first[1]
    with tempfile.NamedTemporaryFile() as handle:
        handle.write(base64.b64decode(cert))
        handle.flush()
        names = subprocess.run(
            ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", handle.name],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    assert "DNS:localhost" in names
