"""The Helm chart on the local cluster, installed as a user installs it on a real one.

First every rendering is validated by the API server (a dry run). Then the chart is installed
for real with the project's images (`make images`), the bundled Redis (a StatefulSet with its
append-only file on a PersistentVolumeClaim of the default storage class), the webhook called
through its Service and the operator's HTTP API read through the API server's service proxy:
the quickstart runs through it, `helm test` passes, the webhook refuses an invalid Workflow,
`helm upgrade` keeps the generated secrets and loses nothing of a running Workflow, and
`helm uninstall` leaves nothing but the CRDs and the Redis data it keeps on purpose.

Each release lives in its test's `c-...` namespace, watches only it and has its own Redis: the
e2e suite's operator (which watches `t-*` namespaces and uses the host's Redis) and a chart
test's operator never see each other's Workflows or data.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartkit import CHART, COMBINATIONS, ROOT, helm, template_text, values_file

from kubecanvas.resources import WORKFLOW_RESULT, task_secret_name
from support.chaos import FULL, Report, Row
from support.cluster import Cluster
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
    # Each object in its own namespace (the results API's RoleBinding is in kube-system).
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for doc in known:
        by_namespace.setdefault(doc["metadata"].get("namespace") or namespace, []).append(doc)
    accepted = []
    for target, group in sorted(by_namespace.items()):
        result = kubectl_result(
            cluster, "apply", "--dry-run=server", "-n", target, "-f", "-",
            input="\n---\n".join(json.dumps(d) for d in group),
        )  # fmt: skip
        assert result.returncode == 0, (
            f"{combination}: the API server refused the rendering:\n{result.stderr}"
        )
        accepted += [line for line in result.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(accepted) == len(known), accepted


# ------------------------------------------------------------------------- install, use, test, uninstall

REDIS_PORT = 6379  # the chart's default
EVENTS_STREAM, CONSUMER_GROUP = "kubecanvas:events", "kubecanvas-operator"  # the chart's defaults
STORAGE_CLASS = "standard"  # the local cluster's default StorageClass
VOLUMES = ROOT / ".cluster" / "node" / "volumes"  # where its hostPath volumes live


def image_values(image: str) -> dict[str, str]:
    """`repository` and `tag` of an image reference, split at its last ':' (as `make deploy` does)."""
    repository, _, tag = image.rpartition(":")
    if not repository or not tag or "/" in tag:
        raise AssertionError(f"{image} has no tag")
    return {"repository": repository, "tag": tag}


@dataclass
class Release:
    """One install of the chart in a test's namespace, and what the tests ask of it."""

    cluster: Cluster
    name: str
    namespace: str
    values: dict[str, Any]
    file: Path

    @property
    def operator(self) -> str:
        """The operator's Deployment, and the Service of its HTTP API (templates/service.yaml)."""
        return f"{self.name}-kubecanvas-operator"

    @property
    def redis(self) -> str:
        """The bundled Redis: its StatefulSet, Service and password Secret."""
        return f"{self.name}-kubecanvas-redis"

    @property
    def redis_pod(self) -> str:
        return f"{self.redis}-0"

    @property
    def redis_claim(self) -> str:
        """The claim of the StatefulSet's volumeClaimTemplate `data`."""
        return f"data-{self.redis}-0"

    def helm(self, *args: str, values: Path | None = None) -> None:
        """`helm install|upgrade` of the chart with the release's values, waiting until it is ready."""
        result = helm(
            *args, self.name, str(CHART), "-n", self.namespace, "-f", str(values or self.file),
            "--wait", "--timeout", "3m", env=helm_env(self.cluster), check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise AssertionError(
                f"helm {args[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n"
                f"{self.diagnosis()}"
            )

    def diagnosis(self) -> str:
        """What to look at when the release misbehaves: its pods, claims and events, the operator's log."""
        kubectl, ns = self.cluster.kubectl, self.namespace
        return "\n".join(
            [
                kubectl("get", "pods,pvc,jobs", "-n", ns, "-o", "wide", check=False),
                kubectl("get", "events", "-n", ns, "--sort-by=.lastTimestamp", check=False)[-6000:],
                kubectl("logs", "-n", ns, f"deployment/{self.operator}", "--tail=60", check=False),
            ]
        )

    def operator_pods(self) -> list[dict[str, Any]]:
        selector = f"app.kubernetes.io/instance={self.name},app.kubernetes.io/component=operator"
        listing = self.cluster.kubectl("get", "pods", "-n", self.namespace, "-l", selector, "-o", "json")
        return list(json.loads(listing)["items"])

    def operator_pod(self) -> dict[str, Any]:
        """The one operator pod (standalone: never two at once, the Deployment recreates)."""
        pods = self.operator_pods()
        assert len(pods) == 1, [pod["metadata"]["name"] for pod in pods]
        return pods[0]

    def redis_cli(self, *args: str, password: str | None = None) -> str:
        """`redis-cli ARGS` in the Redis pod, authenticated with its REDISCLI_AUTH (the password
        Secret), or with `password` given on stdin, or without any password: `password=""`."""
        command = ["redis-cli", "--no-auth-warning", "-p", str(REDIS_PORT), *args]
        if password is None:
            return self.cluster.kubectl(
                "exec", "-n", self.namespace, self.redis_pod, "-c", "redis", "--", *command
            )
        script = 'REDISCLI_AUTH="$(cat)"; if [ -z "$REDISCLI_AUTH" ]; then unset REDISCLI_AUTH; fi; exec "$@"'
        return self.cluster.kubectl(
            "exec", "-i", "-n", self.namespace, self.redis_pod, "-c", "redis", "--",
            "sh", "-c", script, "sh", *command, input=password,
        )  # fmt: skip

    def document(self, workflow: str, *, as_user: str | None = None) -> dict[str, Any]:
        """The workflow document (what `kubecanvas get -o json` prints) from the operator's results
        API through the API server's aggregation layer, as `kubecanvas get` reads it."""
        from kubecanvas.client.documents import document_from_result

        path = WORKFLOW_RESULT.path(self.namespace, workflow)
        impersonate = [f"--as={as_user}"] if as_user else []
        return dict(
            document_from_result(json.loads(self.cluster.kubectl("get", "--raw", path, *impersonate)))
        )

    def drop_redis_data(self) -> None:
        """Delete the Redis data claim `helm uninstall` keeps, as a user drops the data, and give
        its volume back to the storage class's pool wiped, as `hack/cluster.py up` does: the local
        cluster has eight volumes, and each run would otherwise keep one per release until then."""
        selector = f"app.kubernetes.io/instance={self.name}"
        claims = json.loads(
            self.cluster.kubectl("get", "pvc", "-n", self.namespace, "-l", selector, "-o", "json")
        )["items"]
        for claim in claims:
            name = claim["metadata"]["name"]
            self.cluster.kubectl("delete", "pvc", name, "-n", self.namespace, "--wait", "--timeout=2m")
            if claim["spec"].get("volumeName"):
                recycle_volume(self.cluster, claim["spec"]["volumeName"], claim["metadata"]["uid"])


def recycle_volume(cluster: Cluster, volume: str, claim_uid: str) -> None:
    """Wipe a volume the claim `claim_uid` released and make it Available again."""

    def released() -> dict[str, Any] | None:
        found = json.loads(cluster.kubectl("get", "pv", volume, "-o", "json"))
        return found if found["status"]["phase"] == "Released" else None

    found = wait_until(released, timeout=60, what=f"volume {volume} to be released by its claim")
    assert found is not None  # wait_until returns only what is truthy
    if (found["spec"].get("claimRef") or {}).get("uid") != claim_uid:
        return  # not our claim's any more
    path = Path(found["spec"]["hostPath"]["path"]).resolve()
    assert path.is_relative_to(VOLUMES.resolve()), f"{volume} is not one of the local cluster's: {path}"
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    patch = '[{"op":"remove","path":"/spec/claimRef"}]'
    cluster.kubectl("patch", "pv", volume, "--type", "json", "-p", patch)


@pytest.fixture
def release(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[Release]:
    """The chart as a user installs it (not installed yet: each test does), into the test's
    namespace, watching only it; uninstalled at the end, its Redis data dropped (the test
    checks the uninstall itself; this is the safety net when it failed early)."""
    apply_chart_crds(cluster)
    values = {
        "watchNamespaces": [namespace],
        "operator": {"image": image_values(cluster.env["KUBECANVAS_OPERATOR_IMAGE"]), "logFormat": "text"},
        "tasks": {
            "image": image_values(cluster.env["KUBECANVAS_RUNTIME_IMAGE"]),
        },
        # The bundled Redis, its append-only file on a claim of the default storage class.
        "redis": {"enabled": True, "persistence": {"enabled": True}},
        # The API server calls the webhook through its Service, on the default ports.
        "webhook": {"enabled": True},
        "config": {"statusInterval": 0.2},
    }
    name = "kc-" + namespace.rsplit("-", 1)[-1]
    installed = Release(cluster, name, namespace, values, values_file(tmp_path, values))
    yield installed
    helm(
        "uninstall", name, "-n", namespace, "--wait", "--ignore-not-found", check=False, env=helm_env(cluster)
    )
    installed.drop_redis_data()


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


def wait_finished(release: Release, workflow: str, timeout: float = 300) -> str:
    """The phase the Workflow finished in. (A pod takes a second to start on an idle node, and
    over a minute on one busy with the e2e suite's pods: the deadline is for the latter.)"""

    def finished() -> str | None:
        phase = release.cluster.kubectl(
            "get", "workflow", workflow, "-n", release.namespace, "-o", "jsonpath={.status.phase}"
        )
        return phase if phase in ("Succeeded", "Failed", "Revoked") else None

    try:
        phase = wait_until(finished, timeout=timeout, what=f"the workflow {workflow} to finish")
    except pytest.fail.Exception:
        pytest.fail(f"workflow {workflow} did not finish in {timeout:g}s:\n{release.diagnosis()}")
    assert phase is not None
    return phase


def container_env(pod: dict[str, Any]) -> dict[str, Any]:
    return {
        item["name"]: item.get("value", item.get("valueFrom")) for item in pod["spec"]["containers"][0]["env"]
    }


def moment(timestamp: str) -> datetime:
    """An RFC 3339 timestamp (the API's whole seconds, a document's milliseconds) as a datetime."""
    return datetime.fromisoformat(timestamp)


def redis_fields(reply: str) -> dict[str, str]:
    """A flat reply of redis-cli (`XINFO`, `CONFIG GET`: key, value, key, value...) as a mapping."""
    lines = reply.splitlines()
    return dict(zip(lines[::2], lines[1::2], strict=True))


PROBE = """
import os

from kubecanvas.store.wire import Connection


def attack(victim):
    \"\"\"What a hostile task can do to another workflow with the Redis credentials its pod got.\"\"\"
    user = os.environ.get("KUBECANVAS_REDIS_USERNAME") or ""
    connection = Connection.from_url(
        os.environ["KUBECANVAS_REDIS_URL"], os.environ.get("KUBECANVAS_REDIS_PASSWORD"), username=user or None
    )
    prefix = "kc:{" + victim + "}:"
    tries = {
        "list workflows": ("SCAN", "0", "MATCH", "kc:*"),
        "read its node": ("HGET", prefix + "nodes", "t0"),
        "read its results": ("HGETALL", prefix + "results"),
        "rewrite its task": ("HSET", prefix + "nodes", "t0", '{"task": "builtins.divmod"}'),
    }
    replies = {}
    for what, command in tries.items():
        try:
            replies[what] = repr(connection.execute(*command))
        except Exception as error:
            replies[what] = f"{type(error).__name__}: {error}"
    return {"user": user, "tries": replies}
"""


def api_service_available(cluster: Cluster) -> bool:
    name = f"{WORKFLOW_RESULT.version}.{WORKFLOW_RESULT.group}"
    service = json.loads(cluster.kubectl("get", "apiservice", name, "-o", "json"))
    conditions = {c["type"]: c["status"] for c in service.get("status", {}).get("conditions", [])}
    return conditions.get("Available") == "True"


DIRECT_PROBE = """
import json, ssl, sys, urllib.error, urllib.request

url = sys.argv[1]
token = open("/var/run/secrets/kubernetes.io/serviceaccount/token").read().strip()
context = ssl.create_default_context()
context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
tries = {
    "anonymous": {},
    "forged headers": {"X-Remote-User": "system:admin", "X-Remote-Group": "system:masters"},
    "own token": {"Authorization": "Bearer " + token},
}
answers = {}
for what, headers in tries.items():
    try:
        request = urllib.request.Request(url, headers=headers)
        answers[what] = urllib.request.urlopen(request, context=context).status
    except urllib.error.HTTPError as error:
        answers[what] = error.code
print(json.dumps(answers))
"""


def direct_results_probe(cluster: Cluster, release: Release, workflow: str) -> dict[str, int]:
    """From a pod of the namespace (its default service account: no rights), call the operator's
    results API at its Service directly; the HTTP status of each try."""
    namespace = release.namespace
    service = f"{release.name}-kubecanvas-webhook.{namespace}.svc"
    url = f"https://{service}:8443{WORKFLOW_RESULT.path(namespace, workflow)}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "results-probe"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "probe",
                    "image": cluster.env["KUBECANVAS_RUNTIME_IMAGE"],
                    "command": ["python3", "-c", DIRECT_PROBE, url],
                }
            ],
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod))
    wait_until(
        lambda: (
            cluster.get("pod", "results-probe", namespace)["status"].get("phase") in ("Succeeded", "Failed")
        ),
        timeout=120,
        what="the probe pod to finish",
    )
    logs = cluster.kubectl("logs", "results-probe", "-n", namespace)
    return dict(json.loads(logs.strip().splitlines()[-1]))


def tenant_probe(cluster: Cluster, release: Release, victim_uid: str) -> dict[str, Any]:
    """Run `probe.attack(victim_uid)` as a task of its own workflow; its result."""
    namespace = release.namespace
    cluster.kubectl("create", "configmap", "probe", "-n", namespace, "--from-literal", f"probe.py={PROBE}")
    workflow = {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "probe"},
        "spec": {
            "code": {"configMap": {"name": "probe"}},
            "canvas": {"task": "probe.attack", "args": [victim_uid]},
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(workflow))
    assert wait_finished(release, "probe") == "Succeeded", cluster.get("workflow", "probe", namespace).get(
        "status"
    )
    return dict(cluster.get("workflow", "probe", namespace)["status"]["result"])


def test_install_run_test_and_uninstall(cluster: Cluster, release: Release) -> None:
    name, namespace, env = release.name, release.namespace, helm_env(cluster)

    # helm install --wait: the Redis pod is Ready (redis-cli ping, with its claim bound) and the
    # operator too (kopf answered after its startup handler, and the webhook port listens).
    release.helm("install")
    deployment = cluster.get("deployment", release.operator, namespace)
    assert deployment["status"].get("readyReplicas") == 1, deployment["status"]
    operator = release.operator_pod()
    assert operator["spec"]["containers"][0]["image"] == cluster.env["KUBECANVAS_OPERATOR_IMAGE"]
    assert container_env(operator)["KUBECANVAS_RUNTIME_IMAGE"] == cluster.env["KUBECANVAS_RUNTIME_IMAGE"]
    # The operator reaches the bundled Redis by its Service's DNS name (cluster DNS, kube-proxy).
    redis_url = f"redis://{release.redis}.{namespace}.svc:{REDIS_PORT}/0"
    assert container_env(operator)["KUBECANVAS_REDIS_URL"] == redis_url

    # Redis keeps its append-only file on a claim the default storage class bound.
    claim = cluster.get("pvc", release.redis_claim, namespace)
    assert claim["status"]["phase"] == "Bound", claim["status"]
    assert claim["spec"]["storageClassName"] == STORAGE_CLASS
    volume = json.loads(cluster.kubectl("get", "pv", claim["spec"]["volumeName"], "-o", "json"))
    assert volume["spec"]["storageClassName"] == STORAGE_CLASS
    assert volume["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
    redis_pod = cluster.get("pod", release.redis_pod, namespace)
    mounted = {v["name"]: v for v in redis_pod["spec"]["volumes"]}["data"]
    assert mounted["persistentVolumeClaim"]["claimName"] == release.redis_claim
    assert redis_fields(release.redis_cli("config", "get", "appendonly")) == {"appendonly": "yes"}
    assert redis_fields(release.redis_cli("config", "get", "dir")) == {"dir": "/data"}
    assert "aof_enabled:1" in release.redis_cli("info", "persistence").split()

    # The quickstart, as a user runs it.
    cluster.kubectl(
        "create", "configmap", "conftasks", "-n", namespace, f"--from-file={EXAMPLES / 'conftasks.py'}"
    )
    cluster.kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / "quickstart.yaml"))
    phase = wait_finished(release, "quickstart")
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

    # A workflow's task Secret deleted by hand mid-run: the operator makes it again, and the
    # pods still to come start (they would wait on CreateContainerConfigError for ever).
    chain = {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "secret-deleted"},
        "spec": {
            "code": {"configMap": {"name": "conftasks"}},
            "canvas": {
                "chain": [{"task": "conftasks.sleep", "args": [3]}, {"task": "conftasks.add", "args": [1]}]
            },
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(chain))
    uid = cluster.get("workflow", "secret-deleted", namespace)["metadata"]["uid"]
    secret = task_secret_name(uid)
    wait_until(
        lambda: cluster.kubectl("get", "secret", secret, "-n", namespace, "--ignore-not-found"),
        timeout=60,
        what="the task Secret",
    )
    cluster.kubectl("delete", "secret", secret, "-n", namespace)
    assert wait_finished(release, "secret-deleted") == "Succeeded", cluster.get(
        "workflow", "secret-deleted", namespace
    ).get("status")
    assert cluster.get("workflow", "secret-deleted", namespace)["status"]["result"] == 4
    restored = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "reason=SecretRestored", "-o", "name"
    )
    assert restored.strip(), "the operator did not say it made the Secret again"

    # It went through the bundled Redis: the operator pod is the consumer of its group there.
    groups = release.redis_cli("xinfo", "groups", EVENTS_STREAM)
    assert redis_fields(groups)["name"] == CONSUMER_GROUP, groups
    consumers = release.redis_cli("xinfo", "consumers", EVENTS_STREAM, CONSUMER_GROUP)
    assert redis_fields(consumers)["name"] == operator["metadata"]["name"], consumers

    # A workflow's state without Redis: the results API through the API server's aggregation
    # layer, as `kubecanvas get` reads it, for a user who may view the namespace.
    wait_until(
        lambda: api_service_available(cluster),
        timeout=120,
        what="the results API's APIService to be Available",
    )
    cluster.kubectl("create", "rolebinding", "viewer", "-n", namespace, "--clusterrole=view", "--user=viewer")
    document = wait_until(
        lambda: release.document("quickstart", as_user="viewer"), timeout=30, what="the viewer's read"
    )
    assert (document["name"], document["phase"], document["result"]) == ("quickstart", "Succeeded", 385)
    assert {task["state"] for task in document["tasks"]} == {"SUCCESS"}
    assert sorted(task["result"] for task in document["tasks"] if task["task"] == "conftasks.mul") == sorted(
        i * i for i in range(1, 11)
    )
    # ... and `kubecanvas get` itself, with no Redis URL.
    cli_env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECANVAS_")}
    cli = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "kubecanvas"), "get", "quickstart", "-n", namespace, "-o", "json"],
        capture_output=True, text=True, timeout=60, check=False, env={**cli_env, **env},
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout) == document

    # A spec too large for etcd (2.4 MB of chunks items): `kubectl create` of it is refused by
    # etcd, `kubecanvas submit` uploads its canvas to the results API first and creates a small
    # Workflow that names it (canvas/offload.py). It runs as any other.
    pairs = [[i, i] for i in range(150_000)]
    big = {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "big"},
        "spec": {
            "code": {"configMap": {"name": "conftasks"}},
            "canvas": {
                "chain": [
                    {"chunks": {"task": "conftasks.add", "items": pairs, "size": 75_000}},
                    {"task": "conftasks.xsum"},
                ]
            },
        },
    }
    big_file = release.file.parent / "big.json"
    big_file.write_text(json.dumps(big))
    assert big_file.stat().st_size > 2_000_000
    refused = kubectl_result(cluster, "create", "-n", namespace, "-f", str(big_file))
    assert refused.returncode != 0
    # etcd's "request is too large", or over 2 MiB the API server's own gRPC client to it.
    assert "too large" in refused.stderr or "larger than max" in refused.stderr, refused.stderr
    # Under etcd's limit, over aiohttp's default body size (1 MiB): the webhook admits it.
    half = copy.deepcopy(big)
    half["spec"]["canvas"]["chain"][0]["chunks"]["items"] = pairs[:75_000]
    half_file = release.file.parent / "half.json"
    half_file.write_text(json.dumps(half))
    assert half_file.stat().st_size > 1_100_000
    admitted = kubectl_result(cluster, "create", "--dry-run=server", "-n", namespace, "-f", str(half_file))
    assert admitted.returncode == 0, admitted.stderr
    submitted = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "kubecanvas"), "submit", str(big_file), "-n", namespace],
        capture_output=True, text=True, timeout=120, check=False, env={**cli_env, **env},
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    phase = wait_finished(release, "big")
    stored = cluster.get("workflow", "big", namespace)
    assert phase == "Succeeded", stored.get("status")
    assert stored["status"]["result"] == 150_000 * 149_999  # every item, summed
    assert set(stored["spec"]["canvasRef"]) == {"sha256", "bytes"}
    assert "canvas" not in stored["spec"]
    assert len(json.dumps(stored)) < 10_000
    # Uploading is for who may create Workflows there: the API server stops a viewer, and an
    # editor (the `edit` role, which the chart extends) gets the digest back.
    upload = f"/apis/results.kubecanvas.io/v1alpha1/namespaces/{namespace}/workflowcanvases"
    canvas_file = release.file.parent / "canvas.json"
    canvas_file.write_text(json.dumps({"canvas": {"task": "conftasks.add", "args": [1, 2]}}))
    refused = kubectl_result(cluster, "create", "--raw", upload, "-f", str(canvas_file), "--as=viewer")
    assert 'User "viewer" cannot create resource "workflowcanvases"' in refused.stderr, refused.stderr
    cluster.kubectl("create", "rolebinding", "editor", "-n", namespace, "--clusterrole=edit", "--user=editor")
    answer = json.loads(cluster.kubectl("create", "--raw", upload, "-f", str(canvas_file), "--as=editor"))
    assert answer["kind"] == "WorkflowCanvas"
    assert len(answer["sha256"]) == 64
    # Nobody else reads it: a user with no rights is stopped by the API server, one allowed the
    # WorkflowResult but not the Workflow by the operator, and a pod that calls the operator
    # directly — with no credentials, with forged X-Remote-User headers, or with its own service
    # account's token — gets 401, 401 and 403.
    refused = kubectl_result(
        cluster, "get", "--raw", WORKFLOW_RESULT.path(namespace, "quickstart"), "--as=mallory"
    )
    assert refused.returncode != 0
    assert 'User "mallory" cannot get resource "workflowresults"' in refused.stderr, refused.stderr
    cluster.kubectl(
        "create",
        "role",
        "results-only",
        "-n",
        namespace,
        "--verb=get",
        "--resource=workflowresults.results.kubecanvas.io",
    )
    cluster.kubectl(
        "create", "rolebinding", "results-only", "-n", namespace, "--role=results-only", "--user=carol"
    )
    refused = kubectl_result(
        cluster, "get", "--raw", WORKFLOW_RESULT.path(namespace, "quickstart"), "--as=carol"
    )
    assert refused.returncode != 0
    assert 'user "carol" cannot get workflow "quickstart"' in refused.stderr, refused.stderr
    direct = direct_results_probe(cluster, release, "quickstart")
    assert direct == {"anonymous": 401, "forged headers": 401, "own token": 403}, direct

    # Tenants are isolated in Redis: a task pod of another workflow, with the credentials the
    # operator gave it, can neither read the quickstart nor rewrite which function it runs.
    probe = tenant_probe(
        cluster, release, victim_uid=cluster.get("workflow", "quickstart", namespace)["metadata"]["uid"]
    )
    assert probe["user"].startswith("kc-task-"), probe
    assert {what: reply for what, reply in probe["tries"].items() if "NOPERM" not in reply} == {}, probe

    # helm test: its pod creates, awaits and deletes a one-task Workflow, and checks the webhook.
    tested = helm("test", name, "-n", namespace, "--logs", "--timeout", "3m", env=env, check=False)
    assert tested.returncode == 0, f"helm test failed:\n{tested.stdout}\n{tested.stderr}"
    assert "Phase:          Succeeded" in tested.stdout
    assert "succeeded with result 144" in tested.stdout
    assert "PASSED" in tested.stdout

    # The webhook (through its Service) refuses an invalid Workflow, naming the field.
    refused = kubectl_result(cluster, "apply", "-n", namespace, "-f", "-", input=invalid_workflow())
    assert refused.returncode != 0, f"an invalid Workflow was accepted: {refused.stdout}"
    assert 'admission webhook "validate.workflows.kubecanvas.io" denied the request' in refused.stderr
    assert "spec.canvas.chain[1].chord: 'body' is required" in refused.stderr
    assert kubectl_result(cluster, "get", "workflow", "invalid", "-n", namespace).returncode != 0

    # Uninstall: nothing of the release is left but the CRDs and, on purpose, the Redis data.
    before = release_objects(cluster, name)
    assert f"deployment.apps/{release.operator}" in before  # the label query sees the release
    assert f"validatingwebhookconfiguration.admissionregistration.k8s.io/{name}-kubecanvas-webhook" in before
    assert f"persistentvolumeclaim/{release.redis_claim}" in before
    cluster.kubectl("delete", "workflow", "quickstart", "-n", namespace, "--wait")
    helm("uninstall", name, "-n", namespace, "--wait", "--timeout", "2m", env=env)
    # The StatefulSet's claim outlives it (persistentVolumeClaimRetentionPolicy Retain; Helm
    # never deletes a StatefulSet's claims): a reinstall finds its data. Nothing else is left.
    kept = [f"persistentvolumeclaim/{release.redis_claim}"]
    wait_until(
        lambda: release_objects(cluster, name) == kept,
        timeout=120,
        what="every object but the Redis data to go",
    )
    assert cluster.get("pvc", release.redis_claim, namespace)["status"]["phase"] == "Bound"
    # Dropping the data is the user's call: delete the claim, and then nothing is left at all.
    release.drop_redis_data()
    assert release_objects(cluster, name) == []
    for kind, object_name in [
        ("clusterrole", release.operator),
        ("clusterrolebinding", release.operator),
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
    cluster: Cluster, release: Release, tmp_path: Path
) -> None:
    """The bundled Redis starts with the password the chart generated, and `helm upgrade`
    keeps that password and the webhook certificate (until the webhook's host changes)."""
    name, namespace = release.name, release.namespace
    # Without persistence (an emptyDir): the secrets are the point here, not the data.
    values = {**release.values, "redis": {"enabled": True, "persistence": {"enabled": False}}}
    path = values_file(tmp_path, values, "bundled.yaml")
    release.helm("install", values=path)

    def secrets() -> tuple[str, str]:
        cert = cluster.get("secret", f"{name}-kubecanvas-webhook-cert", namespace)["data"]["tls.crt"]
        password = cluster.get("secret", release.redis, namespace)["data"]["password"]
        return cert, password

    first = secrets()
    password = base64.b64decode(first[1]).decode()
    assert len(password) == 32
    assert cluster.kubectl("get", "pvc", "-n", namespace, "-o", "name") == ""
    # Redis requires exactly the generated password; without one it refuses every command.
    assert release.redis_cli("ping", password=password).strip() == "PONG"
    assert release.redis_cli("ping").strip() == "PONG"  # its REDISCLI_AUTH, from the Secret
    assert redis_fields(release.redis_cli("config", "get", "appendonly")) == {"appendonly": "yes"}
    assert "NOAUTH" in release.redis_cli("ping", password="")
    assert "NOAUTH" in release.redis_cli("ping", password=password[::-1])  # AUTH failed: not in
    redis_uid = cluster.get("pod", release.redis_pod, namespace)["metadata"]["uid"]

    release.helm("upgrade", "--set", "tasks.jobTTLSeconds=7", values=path)
    assert secrets() == first
    # Same password, same pod: the upgrade left Redis alone, and it still takes that password.
    assert cluster.get("pod", release.redis_pod, namespace)["metadata"]["uid"] == redis_uid
    assert release.redis_cli("ping", password=password).strip() == "PONG"

    # A new webhook host needs a new certificate: it is made, and the password still kept.
    release.helm("upgrade", "--set", "webhook.url=https://localhost:9443", values=path)
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
    assert f"DNS:{name}-kubecanvas-webhook.{namespace}.svc" in names


# The workflow that spans the upgrade: sleeps in parallel (a chord's header), started before the
# operator is replaced and ending at different times around it (while the old operator stops,
# while none runs, under the new one), then what the new operator alone runs.
SLEEPS = (2, 5, 8, 15)  # the longest outlasts the operator's replacement, even on a busy node
SPANNING = {
    "apiVersion": "kubecanvas.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "spanning"},
    "spec": {
        "code": {"configMap": {"name": "conftasks"}},
        "canvas": {
            "chain": [
                {
                    "chord": {
                        "header": [{"task": "conftasks.sleep", "args": [seconds]} for seconds in SLEEPS],
                        "body": {"task": "conftasks.tsum"},
                    }
                },
                {"task": "conftasks.add", "args": [12]},  # 30 + 12
            ]
        },
    },
}
SPANNING_RESULTS = {"conftasks.sleep": list(SLEEPS), "conftasks.tsum": [30], "conftasks.add": [42]}
SPANNING_TASKS = len(SLEEPS) + 2


def test_upgrade_with_a_running_workflow_loses_nothing(
    cluster: Cluster, release: Release, tmp_path: Path
) -> None:
    """`helm upgrade` replaces the operator pod while a Workflow's tasks run: the new operator
    takes over the task news the old one left, and the Workflow succeeds with every task run once."""
    namespace = release.namespace
    release.helm("install")
    cluster.kubectl(
        "create", "configmap", "conftasks", "-n", namespace, f"--from-file={EXAMPLES / 'conftasks.py'}"
    )
    cluster.apply(SPANNING, namespace)

    def header_started() -> dict[str, Any] | None:
        document = release.document("spanning")
        states = [task["state"] for task in document["tasks"] if task["task"] == "conftasks.sleep"]
        return document if "PENDING" not in states else None

    try:
        before = wait_until(header_started, timeout=180, what="every sleep to start")
    except pytest.fail.Exception:
        pytest.fail(f"the sleeps did not start:\n{release.diagnosis()}")
    assert before is not None
    assert before["phase"] == "Running", before
    old = release.operator_pod()
    redis_uid = cluster.get("pod", release.redis_pod, namespace)["metadata"]["uid"]

    # An upgrade that rolls the operator pod (a new pod annotation), nothing else.
    values = copy.deepcopy(release.values)
    values["operator"]["podAnnotations"] = {"example.com/rolled": "upgrade"}
    release.helm("upgrade", values=values_file(tmp_path, values, "rolled.yaml"))
    new = release.operator_pod()
    assert new["metadata"]["uid"] != old["metadata"]["uid"]
    assert new["metadata"]["annotations"]["example.com/rolled"] == "upgrade"
    assert cluster.get("pod", release.redis_pod, namespace)["metadata"]["uid"] == redis_uid

    phase = wait_finished(release, "spanning")
    workflow = cluster.get("workflow", "spanning", namespace)
    assert phase == "Succeeded", workflow.get("status")
    assert workflow["status"]["result"] == 42

    document = release.document("spanning")
    assert (document["phase"], document["result"]) == ("Succeeded", 42)
    tasks = document["tasks"]
    results: dict[str, list[Any]] = {}
    for task in tasks:
        results.setdefault(task["task"], []).append(task["result"])
    assert {task: sorted(values) for task, values in results.items()} == SPANNING_RESULTS
    assert [(task["state"], task["attempts"]) for task in tasks] == [("SUCCESS", 1)] * SPANNING_TASKS, tasks
    # The sleeps started under the old operator, the longest ended under the new one, which
    # alone ran the rest (the timestamps are this machine's clock, the pods' and the API's).
    replaced = moment(new["metadata"]["creationTimestamp"])
    sleeps = [task for task in tasks if task["task"] == "conftasks.sleep"]
    assert all(moment(task["startedAt"]) < replaced for task in sleeps), (replaced, tasks)
    assert max(moment(task["finishedAt"]) for task in sleeps) > replaced, (replaced, tasks)
    rest = [task for task in tasks if task not in sleeps]
    assert all(moment(task["startedAt"]) >= replaced for task in rest), (replaced, tasks)

    # Each task's Job was created once, and made one pod: no task ran twice.
    events = json.loads(
        cluster.kubectl(
            "get", "events", "-n", namespace, "-o", "json",
            "--field-selector", "involvedObject.kind=Job,reason=SuccessfulCreate",
        )
    )["items"]  # fmt: skip
    jobs: dict[str, set[str]] = {}
    for event in events:
        jobs.setdefault(event["involvedObject"]["name"], set()).add(event["involvedObject"]["uid"])
    pods_made = sum(event.get("count", 1) for event in events)
    assert {job: len(uids) for job, uids in jobs.items()} == dict.fromkeys(jobs, 1), jobs
    assert len(jobs) == SPANNING_TASKS, jobs
    assert pods_made == SPANNING_TASKS, [event["message"] for event in events]
    assert all(job.endswith("-1") for job in jobs), jobs  # attempt 1 of each task
    # ... and every task's news was read and acknowledged: none is pending in the consumer group.
    assert release.redis_cli("xpending", EVENTS_STREAM, CONSUMER_GROUP).splitlines()[0] == "0"

    # The state is on the claim: Redis' next pod (the StatefulSet's, same claim) has all of it.
    cluster.kubectl("delete", "pod", release.redis_pod, "-n", namespace, "--wait")

    def redis_back() -> bool:
        pod = cluster.get("pod", release.redis_pod, namespace)
        ready = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}.get("Ready")
        return pod["metadata"]["uid"] != redis_uid and ready == "True"

    wait_until(redis_back, timeout=180, what="Redis' next pod to be ready")
    # (Ready is not yet reachable: kube-proxy programs the Service's new endpoint a moment later,
    # and until then the operator answers 503, which the proxy passes on as ServiceUnavailable.)
    wait_until(
        lambda: release.document("spanning") == document,
        timeout=60,
        what="the same document from the new Redis pod",
    )


def test_ha_operator_pods_deleted_during_applies_refuse_no_valid_workflow_and_admit_no_invalid_one(
    cluster: Cluster, release: Release, tmp_path: Path, chaos_report: Report
) -> None:
    """The fault suite's webhook scenario. With `ha.enabled` every replica serves the admission
    webhook (the leader and the standby alike, `front.py`), so operator pods deleted while users
    `kubectl create` Workflows leave every request reviewed: no valid Workflow refused for want
    of a webhook, no invalid one admitted unchecked, and every admitted one Succeeded."""
    deletions = 3 if FULL else 1
    row = Row(
        f"operator pods deleted during kubectl create (HA, 2 replicas) x{deletions}",
        "valid all admitted and Succeeded, exact; invalid all refused",
    )
    chaos_report.rows.append(row)
    namespace, started = release.namespace, time.monotonic()
    values = copy.deepcopy(release.values)
    values["ha"] = {"enabled": True, "replicas": 2}
    release.helm("install", values=values_file(tmp_path, values, "ha.yaml"))
    cluster.kubectl(
        "create", "configmap", "conftasks", "-n", namespace, f"--from-file={EXAMPLES / 'conftasks.py'}"
    )

    def ready_replicas() -> int:
        return int(cluster.get("deployment", release.operator, namespace)["status"].get("readyReplicas") or 0)

    assert ready_replicas() == 2, release.diagnosis()  # the standby is Ready: it serves the webhook

    outcomes: list[tuple[int, bool, int, str]] = []  # (i, valid, kubectl's return code, its message)
    stop = threading.Event()

    def create() -> None:
        i = 0
        while not stop.is_set():
            valid = i % 4 != 3
            canvas: dict[str, Any] = (
                {"task": "conftasks.add", "args": [i, 1]}
                if valid
                else {"chain": [{"task": "conftasks.add", "args": [i]}, {"chord": {"header": []}}]}
            )
            manifest = {
                "apiVersion": "kubecanvas.io/v1alpha1",
                "kind": "Workflow",
                "metadata": {"name": f"w-{i}"},
                "spec": {"code": {"configMap": {"name": "conftasks"}}, "canvas": canvas},
            }
            done = kubectl_result(cluster, "create", "-n", namespace, "-f", "-", input=json.dumps(manifest))
            outcomes.append((i, valid, done.returncode, (done.stderr or "").strip()))
            i += 1
            time.sleep(0.5)

    creating = threading.Thread(target=create, daemon=True)
    creating.start()
    try:
        for _ in range(deletions):
            time.sleep(5)
            holder = cluster.get("lease", release.operator, namespace)["spec"]["holderIdentity"]
            cluster.kubectl("delete", "pod", holder, "-n", namespace, "--wait=false")  # SIGTERM, as a drain
            row.faults += 1
            time.sleep(2)
            wait_until(lambda: ready_replicas() == 2, timeout=180, what="two operator replicas Ready again")
        fault_ended = time.monotonic()
        time.sleep(5)
    finally:
        stop.set()
        creating.join(timeout=60)

    refused_valid = [(i, message) for i, valid, code, message in outcomes if valid and code != 0]
    admitted_invalid = [i for i, valid, code, _ in outcomes if not valid and code == 0]
    unexplained = [
        (i, message)
        for i, valid, code, message in outcomes
        if not valid and code != 0 and "spec.canvas.chain[1].chord" not in message
    ]
    admitted = [i for i, valid, code, _ in outcomes if valid and code == 0]
    row.notes += [f"valid w-{i} refused: {message[:300]}" for i, message in refused_valid[:3]]
    row.notes += [f"invalid w-{i} admitted" for i in admitted_invalid[:3]]
    row.notes += [f"invalid w-{i} refused without its path: {message[:200]}" for i, message in unexplained]
    row.notes.append(
        f"{len(outcomes)} creates: {len(admitted)} valid admitted, {len(refused_valid)} valid refused, "
        f"{sum(not valid for _, valid, _, _ in outcomes) - len(admitted_invalid)} invalid refused, "
        f"{len(admitted_invalid)} invalid admitted"
    )
    phases = {i: wait_finished(release, f"w-{i}") for i in admitted}
    results = {
        i: cluster.get("workflow", f"w-{i}", namespace)["status"].get("result")
        for i in admitted
        if phases[i] == "Succeeded"
    }
    finished = time.monotonic()
    # The results API is served by both replicas too (one Service): each read lands on either.
    documents = [release.document(f"w-{i}") for i in admitted[:8]]
    row.result_exact = [(d["phase"], d["result"]) for d in documents] == [
        ("Succeeded", i + 1) for i in admitted[:8]
    ]
    row.tasks, row.max_runs = len(admitted), 1 if admitted else 0
    row.unfinished = sum(phase != "Succeeded" for phase in phases.values())
    row.phase = "Succeeded" if admitted and not row.unfinished else ",".join(sorted(set(phases.values())))
    row.result_exact = row.result_exact and results == {i: i + 1 for i in admitted}
    row.recovered_s, row.total_s = finished - fault_ended, finished - started
    row.ok = bool(admitted) and not refused_valid and not admitted_invalid and not unexplained
    row.ok = row.ok and row.phase == "Succeeded" and bool(row.result_exact)
    logs = {
        pod["metadata"]["name"]: cluster.kubectl(
            "logs", "-n", namespace, pod["metadata"]["name"], check=False
        )
        for pod in release.operator_pods()
    }
    row.notes += [
        f"{pod} logged a traceback:\n{log[log.index('Traceback') :][:1500]}"
        for pod, log in logs.items()
        if "Traceback" in log
    ]
    row.ok = row.ok and not any("Traceback" in log for log in logs.values())
    assert row.ok, (row, release.diagnosis())
