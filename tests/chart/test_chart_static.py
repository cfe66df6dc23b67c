"""The Helm chart without a cluster: lint, values schema, CRD drift, and what it renders.

What is rendered is checked against the operator's code where the two must agree: the
webhook paths kopf serves, the settings config.py reads, the RBAC rules the calls need.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartkit import CHART, COMBINATIONS, ROOT, container_env, find, helm, one, render, values_file

CHECK_CRDS = ROOT / "hack" / "check-chart-crds.sh"


# ------------------------------------------------------------------------- lint and schema


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_lint_strict(combination: str, tmp_path: Path) -> None:
    result = helm("lint", "--strict", str(CHART), "-f", str(values_file(tmp_path, COMBINATIONS[combination])))
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize(
    ("values", "refused"),
    [
        ({"bogus": 1}, "'bogus'"),
        ({"operator": {"imagee": {}}}, "'imagee'"),
        ({"redis": {"persistence": {"sise": "1Gi"}}}, "'sise'"),
        ({"webhook": {"certManager": {"issuerRef": {"name": "x", "namespace": "y"}}}}, "'namespace'"),
        ({"operator": {"securityContext": {"runAsRoot": True}}}, "'runAsRoot'"),
        ({"webhook": {"failurePolicy": "Sometimes"}}, "failurePolicy"),
        ({"watchNamespaces": ["Not_A_Namespace"]}, "watchNamespaces"),
        ({"redis": {"enabled": False, "external": {"url": "http://redis:6379"}}}, "url"),
    ],
)
def test_schema_refuses_unknown_or_bad_values(values: dict[str, Any], refused: str, tmp_path: Path) -> None:
    result = helm("lint", "--strict", str(CHART), "-f", str(values_file(tmp_path, values)), check=False)
    assert result.returncode != 0
    assert refused in result.stdout + result.stderr


def test_schema_forbids_additional_properties_at_every_level() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    loose = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if (
                node.get("type") == "object"
                and "properties" in node
                and node.get("additionalProperties") is not False
            ):
                loose.append(path)
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]")

    walk(schema, "$")
    assert schema["additionalProperties"] is False
    assert loose == []


def test_every_value_is_in_the_schema() -> None:
    """values.yaml and values.schema.json describe the same keys (objects with properties)."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    missing = []

    def walk(value: Any, node: dict[str, Any], path: str) -> None:
        properties = node.get("properties")
        if not isinstance(value, dict) or properties is None:
            return
        for key, item in value.items():
            if key not in properties:
                missing.append(f"{path}.{key}")
            else:
                walk(item, properties[key], f"{path}.{key}")

    walk(values, schema, "")
    assert missing == []


def test_external_redis_needs_a_url(tmp_path: Path) -> None:
    values = values_file(tmp_path, {"redis": {"enabled": False}})
    result = helm("template", "kc", str(CHART), "-f", str(values), check=False)
    assert result.returncode != 0
    assert "redis.external.url is required when redis.enabled is false" in result.stderr


# ------------------------------------------------------------------------- the CRDs


def test_chart_crds_match_the_repository() -> None:
    result = subprocess.run([str(CHECK_CRDS)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    for crd in (ROOT / "crds").glob("*.yaml"):
        assert (CHART / "crds" / crd.name).read_bytes() == crd.read_bytes()


def test_crd_check_fails_on_drift(tmp_path: Path) -> None:
    """The check itself: a changed, a missing and an unknown file are each reported."""
    copy = tmp_path / "crds"
    shutil.copytree(CHART / "crds", copy)
    first = sorted((ROOT / "crds").glob("*.yaml"))[0].name
    (copy / first).write_text((copy / first).read_text() + "# drift\n")
    (copy / "stale.yaml").write_text("kind: CustomResourceDefinition\n")
    env = {"CHART_CRDS_DIR": str(copy), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([str(CHECK_CRDS)], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 1
    assert f"{first} differs" in result.stderr
    assert "stale.yaml has no counterpart" in result.stderr
    (copy / first).unlink()
    result = subprocess.run([str(CHECK_CRDS)], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 1
    assert f"{first} is missing" in result.stderr


# ------------------------------------------------------------------------- the operator


def deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return one(docs, "Deployment", "kc-kubecanvas-operator")


def test_operator_deployment_defaults(tmp_path: Path) -> None:
    docs = render(tmp_path, {})
    deploy = deployment(docs)
    spec = deploy["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}  # never two standalone operators at once
    assert container["image"] == "ghcr.io/kubecanvas/operator:0.1.0"
    assert container["command"] == ["kubecanvas-operator"]
    assert container["args"] == ["--liveness", "http://0.0.0.0:8080/healthz", "--log-format", "json"]
    # Hardened: non-root, read-only root filesystem, no privilege escalation, no capabilities.
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["tmp"] == "/tmp"
    assert "emptyDir" in volumes["tmp"]
    for probe in ("startupProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    # Ready only once the webhook server takes the API server's admission calls.
    assert container["readinessProbe"]["tcpSocket"] == {"port": "webhook"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "health": 8080,
        "http": 8081,
        "webhook": 9443,
        "api": 8443,
    }
    assert container_env(deploy)["KUBECANVAS_HTTP_PORT"] == "8081"
    assert container_env(deploy)["KUBECANVAS_API_PORT"] == "8443"
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]


def test_every_operator_setting_comes_from_values(tmp_path: Path) -> None:
    """Each KUBECANVAS_* variable the chart sets is one config.py reads, and values reach it."""
    values = {
        "config": {"eventsStream": "s", "consumerGroup": "g", "statusInterval": 0.25, "apiConcurrency": 4},
        "tasks": {
            "image": {"repository": "registry.example/runtime", "tag": "9", "pullPolicy": "Always"},
            "command": ["python", "-m", "kubecanvas_runtime"],
            "serviceAccount": "runner",
            "manageIdentity": False,
            "redisSecretName": "runner-redis",
            "jobTTLSeconds": 60,
            "deleteSucceededJobs": False,
            "succeededJobTTLSeconds": 7,
            "deadlineGraceSeconds": 5,
            "readOnlyRootFilesystem": False,
            "queues": {"gpu": {"nodeSelector": {"accelerator": "nvidia"}}},
        },
        "redis": {"taskUrl": "redis://redis-for-tasks:6379/0"},
    }
    env = container_env(deployment(render(tmp_path, values)))
    assert env["KUBECANVAS_EVENTS_STREAM"] == "s"
    assert env["KUBECANVAS_CONSUMER_GROUP"] == "g"
    assert env["KUBECANVAS_STATUS_INTERVAL"] == "0.25"
    assert env["KUBECANVAS_API_CONCURRENCY"] == "4"
    assert env["KUBECANVAS_RUNTIME_IMAGE"] == "registry.example/runtime:9"
    assert env["KUBECANVAS_IMAGE_PULL_POLICY"] == "Always"
    assert json.loads(env["KUBECANVAS_RUNTIME_COMMAND"]) == ["python", "-m", "kubecanvas_runtime"]
    assert env["KUBECANVAS_TASK_SERVICE_ACCOUNT"] == "runner"
    assert env["KUBECANVAS_MANAGE_TASK_IDENTITY"] == "false"
    assert env["KUBECANVAS_REDIS_SECRET_NAME"] == "runner-redis"
    assert env["KUBECANVAS_JOB_TTL_SECONDS"] == "60"
    assert env["KUBECANVAS_DELETE_SUCCEEDED_JOBS"] == "false"
    assert env["KUBECANVAS_SUCCEEDED_JOB_TTL_SECONDS"] == "7"
    assert env["KUBECANVAS_DEADLINE_GRACE_SECONDS"] == "5"
    assert env["KUBECANVAS_TASK_READ_ONLY_ROOT"] == "false"
    assert json.loads(env["KUBECANVAS_QUEUES"]) == {"gpu": {"nodeSelector": {"accelerator": "nvidia"}}}
    assert env["KUBECANVAS_TASK_REDIS_URL"] == "redis://redis-for-tasks:6379/0"

    # The operator parses exactly these values into its settings.
    from kubecanvas_operator.config import OperatorConfig

    config = OperatorConfig.from_environ({k: v for k, v in env.items() if isinstance(v, str)})
    assert config.runtime_image == "registry.example/runtime:9"
    assert config.runtime_command == ("python", "-m", "kubecanvas_runtime")
    assert config.manage_task_identity is False
    assert config.delete_succeeded_jobs is False
    assert config.succeeded_job_ttl_seconds == 7
    assert config.task_read_only_root is False
    assert config.queues == {"gpu": {"nodeSelector": {"accelerator": "nvidia"}}}
    assert (config.job_ttl_seconds, config.status_interval, config.api_concurrency) == (60, 0.25, 4)


def test_bundled_redis_password_is_a_secret_reference(tmp_path: Path) -> None:
    docs = render(tmp_path, {})
    env = container_env(deployment(docs))
    assert env["KUBECANVAS_REDIS_URL"] == "redis://kc-kubecanvas-redis.kubecanvas.svc:6379/0"
    assert env["KUBECANVAS_REDIS_PASSWORD"] == {
        "secretKeyRef": {"name": "kc-kubecanvas-redis", "key": "password"}
    }
    secret = one(docs, "Secret", "kc-kubecanvas-redis")
    assert len(base64.b64decode(secret["data"]["password"])) == 32
    statefulset = one(docs, "StatefulSet", "kc-kubecanvas-redis")
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    script = container["args"][0]
    assert "--appendonly yes" in script
    assert "requirepass" in script
    assert "$REDISCLI_AUTH" in script
    assert {e["name"]: e["valueFrom"] for e in container["env"]}["REDISCLI_AUTH"] == {
        "secretKeyRef": {"name": "kc-kubecanvas-redis", "key": "password"}
    }
    claim = statefulset["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "8Gi"
    assert one(docs, "Service", "kc-kubecanvas-redis")["spec"]["ports"][0]["port"] == 6379


def test_external_redis(tmp_path: Path) -> None:
    docs = render(tmp_path, COMBINATIONS["external-redis"])
    env = container_env(deployment(docs))
    assert env["KUBECANVAS_REDIS_URL"] == "rediss://redis.example.com:6380/0"
    assert env["KUBECANVAS_REDIS_PASSWORD"] == {"secretKeyRef": {"name": "managed-redis", "key": "password"}}
    assert not find(docs, "StatefulSet")
    assert not find(docs, "Secret", "kc-kubecanvas-redis")


def test_external_redis_without_password(tmp_path: Path) -> None:
    docs = render(tmp_path, COMBINATIONS["external-redis-no-password"])
    env = container_env(deployment(docs))
    assert env["KUBECANVAS_REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert "KUBECANVAS_REDIS_PASSWORD" not in env
    rules = one(docs, "ClusterRole", "kc-kubecanvas-operator")["rules"]
    assert not [rule for rule in rules if "secrets" in rule["resources"]]  # no password to copy


def test_a_private_ca_of_an_external_redis(tmp_path: Path) -> None:
    values = {
        "redis": {"enabled": False, "external": {"url": "rediss://r.example:6380/0", "caSecret": "redis-ca"}}
    }
    env = container_env(deployment(render(tmp_path, values)))
    assert env["KUBECANVAS_REDIS_CA"] == {"secretKeyRef": {"name": "redis-ca", "key": "ca.crt"}}
    assert "KUBECANVAS_REDIS_CA" not in container_env(deployment(render(tmp_path, {})))


def test_redis_behind_sentinel(tmp_path: Path) -> None:
    env = container_env(deployment(render(tmp_path, COMBINATIONS["redis-sentinel"])))
    assert env["KUBECANVAS_REDIS_URL"] == COMBINATIONS["redis-sentinel"]["redis"]["external"]["url"]
    assert env["KUBECANVAS_REDIS_PASSWORD"] == {"secretKeyRef": {"name": "managed-redis", "key": "password"}}


def test_metrics_service(tmp_path: Path) -> None:
    docs = render(tmp_path, {})
    service = one(docs, "Service", "kc-kubecanvas-operator")
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    docs = render(tmp_path, {"operator": {"httpPort": 0}})
    assert not find(docs, "Service", "kc-kubecanvas-operator")
    assert container_env(deployment(docs))["KUBECANVAS_HTTP_PORT"] == "0"


def test_results_api_is_registered_with_the_aggregation_layer(tmp_path: Path) -> None:
    from kubecanvas.resources import WORKFLOW_RESULT

    docs = render(tmp_path, {})
    registration = one(docs, "APIService", f"{WORKFLOW_RESULT.version}.{WORKFLOW_RESULT.group}")
    spec = registration["spec"]
    assert (spec["group"], spec["version"]) == (WORKFLOW_RESULT.group, WORKFLOW_RESULT.version)
    assert spec["service"] == {"name": "kc-kubecanvas-webhook", "namespace": "kubecanvas", "port": 8443}
    service = one(docs, "Service", "kc-kubecanvas-webhook")
    assert {"name": "api", "port": 8443, "targetPort": "api", "protocol": "TCP"} in service["spec"]["ports"]
    # The API server verifies the operator's certificate with the caBundle, for the Service's name.
    secret = one(docs, "Secret", "kc-kubecanvas-webhook-cert")
    (tmp_path / "ca.pem").write_bytes(base64.b64decode(spec["caBundle"]))
    (tmp_path / "cert.pem").write_bytes(base64.b64decode(secret["data"]["tls.crt"]))
    assert "cert.pem: OK" in openssl(
        "verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "cert.pem")
    )
    assert "DNS:kc-kubecanvas-webhook.kubecanvas.svc" in subject_alt_names(
        base64.b64decode(secret["data"]["tls.crt"])
    )
    env = container_env(deployment(docs))
    assert (env["KUBECANVAS_API_CERT"], env["KUBECANVAS_API_KEY"]) == (
        "/etc/kubecanvas/webhook/tls.crt",
        "/etc/kubecanvas/webhook/tls.key",
    )
    # It reads how the API server vouches for users with the Role every cluster has for that.
    binding = one(docs, "RoleBinding", "kc-kubecanvas-operator-authentication-reader")
    assert binding["metadata"]["namespace"] == "kube-system"
    assert binding["roleRef"]["name"] == "extension-apiserver-authentication-reader"
    # Whoever may view a namespace may read its Workflows and ask for their WorkflowResults.
    view = one(docs, "ClusterRole", "kc-kubecanvas-view")
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert rules_by_resource(view["rules"]) == {
        "workflows.kubecanvas.io": {"get", "list", "watch"},
        "cronworkflows.kubecanvas.io": {"get", "list", "watch"},
        f"{WORKFLOW_RESULT.plural}.{WORKFLOW_RESULT.group}": {"get"},
    }
    edit = one(docs, "ClusterRole", "kc-kubecanvas-edit")
    assert "rbac.authorization.k8s.io/aggregate-to-view" not in edit["metadata"]["labels"]
    assert rules_by_resource(edit["rules"])["workflows.kubecanvas.io"] == {
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
    }


def test_results_api_without_the_webhook_and_turned_off(tmp_path: Path) -> None:
    docs = render(tmp_path, {"webhook": {"enabled": False}})
    assert one(docs, "APIService")
    assert not find(docs, "ValidatingWebhookConfiguration")
    assert one(docs, "Service", "kc-kubecanvas-webhook")["spec"]["ports"] == [
        {"name": "api", "port": 8443, "targetPort": "api", "protocol": "TCP"}
    ]
    assert one(docs, "Secret", "kc-kubecanvas-webhook-cert")  # its serving certificate
    docs = render(tmp_path, {"resultsApi": {"enabled": False}})
    assert not find(docs, "APIService")
    assert "results.kubecanvas.io" not in json.dumps(one(docs, "ClusterRole", "kc-kubecanvas-view"))
    assert container_env(deployment(docs))["KUBECANVAS_API_PORT"] == "0"
    assert "api" not in {
        p["name"] for p in deployment(docs)["spec"]["template"]["spec"]["containers"][0]["ports"]
    }


# ------------------------------------------------------------------------- RBAC


def rules_by_resource(rules: list[dict[str, Any]]) -> dict[str, set[str]]:
    granted: dict[str, set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                key = f"{resource}.{group}" if group else resource
                if rule.get("resourceNames"):
                    key += "/" + ",".join(rule["resourceNames"])
                granted.setdefault(key, set()).update(rule["verbs"])
    return granted


OPERATOR_RULES = {
    "workflows.kubecanvas.io": {"get", "list", "watch", "create", "patch", "delete"},
    "workflows/status.kubecanvas.io": {"patch"},
    "cronworkflows.kubecanvas.io": {"get", "list", "watch"},
    "cronworkflows/status.kubecanvas.io": {"patch"},
    "workflows/finalizers.kubecanvas.io": {"update"},
    "cronworkflows/finalizers.kubecanvas.io": {"update"},
    "jobs.batch": {"create", "get", "list", "watch", "patch", "delete"},
    "pods": {"list", "watch"},
    "events": {"create", "patch"},
    "serviceaccounts": {"create"},
    "secrets": {"create"},
    "secrets/kubecanvas-task-redis": {"patch"},
}
CRDS_RULE = {"customresourcedefinitions.apiextensions.k8s.io": {"list", "watch"}}
# The webhook (on by default) asks whether a Workflow's author may do what it asks (authority.py),
# the results API (on by default) whether its caller may get the Workflow (callers.py) ...
REVIEW_RULE = {"subjectaccessreviews.authorization.k8s.io": {"create"}}
# ... and who a caller's bearer token belongs to.
TOKEN_RULE = {"tokenreviews.authentication.k8s.io": {"create"}}


def test_cluster_wide_rbac_is_exactly_what_the_operator_calls(tmp_path: Path) -> None:
    docs = render(tmp_path, {})
    role = one(docs, "ClusterRole", "kc-kubecanvas-operator")
    assert rules_by_resource(role["rules"]) == OPERATOR_RULES | CRDS_RULE | REVIEW_RULE | TOKEN_RULE
    assert not find(docs, "Role", "kc-kubecanvas-operator")
    binding = one(docs, "ClusterRoleBinding", "kc-kubecanvas-operator")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "kc-kubecanvas-operator", "namespace": "kubecanvas"}
    ]
    for rule in role["rules"]:
        assert "*" not in rule["verbs"]
        assert "*" not in rule["resources"]
        assert "*" not in rule["apiGroups"]
    # Task pods are bound to nothing: the chart makes no role for them (view and edit aggregate
    # Workflow rights into Kubernetes' roles for users).
    roles = sorted(doc["metadata"]["name"] for doc in find(docs, "ClusterRole"))
    assert roles == ["kc-kubecanvas-edit", "kc-kubecanvas-operator", "kc-kubecanvas-view"]


def test_no_reviews_without_the_webhook_and_the_results_api(tmp_path: Path) -> None:
    docs = render(tmp_path, {"webhook": {"enabled": False}})
    role = one(docs, "ClusterRole", "kc-kubecanvas-operator")
    assert rules_by_resource(role["rules"]) == OPERATOR_RULES | CRDS_RULE | REVIEW_RULE | TOKEN_RULE
    docs = render(tmp_path, {"webhook": {"enabled": False}, "resultsApi": {"enabled": False}})
    role = one(docs, "ClusterRole", "kc-kubecanvas-operator")
    assert rules_by_resource(role["rules"]) == OPERATOR_RULES | CRDS_RULE
    assert not find(docs, "RoleBinding", "kc-kubecanvas-operator-authentication-reader")


def test_namespaced_rbac(tmp_path: Path) -> None:
    docs = render(tmp_path, COMBINATIONS["watch-namespaces"])
    cluster_role = one(docs, "ClusterRole", "kc-kubecanvas-operator")
    assert rules_by_resource(cluster_role["rules"]) == CRDS_RULE | REVIEW_RULE | TOKEN_RULE | {
        "namespaces": {"list", "watch"}
    }
    roles = find(docs, "Role", "kc-kubecanvas-operator")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["chart-team-a", "chart-team-b"]
    for role in roles:
        assert rules_by_resource(role["rules"]) == OPERATOR_RULES
    bindings = find(docs, "RoleBinding", "kc-kubecanvas-operator")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["chart-team-a", "chart-team-b"]
    args = deployment(docs)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-4:] == ["--namespace", "chart-team-a", "--namespace", "chart-team-b"]
    webhook = one(docs, "ValidatingWebhookConfiguration")
    for hook in webhook["webhooks"]:
        expression = hook["namespaceSelector"]["matchExpressions"][0]
        assert expression["values"] == ["chart-team-a", "chart-team-b"]


def test_rbac_without_identity_management_or_password(tmp_path: Path) -> None:
    values = {"tasks": {"manageIdentity": False}, **COMBINATIONS["external-redis-no-password"]}
    granted = rules_by_resource(
        one(render(tmp_path, values), "ClusterRole", "kc-kubecanvas-operator")["rules"]
    )
    for resource in ("serviceaccounts", "secrets"):
        assert resource not in granted


def test_rbac_and_service_account_can_be_left_out(tmp_path: Path) -> None:
    docs = render(tmp_path, COMBINATIONS["minimal"])
    for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
        assert [
            d["metadata"]["name"] for d in find(docs, kind) if "selftest" not in d["metadata"]["name"]
        ] == []
    assert not [d for d in find(docs, "ServiceAccount") if "selftest" not in d["metadata"]["name"]]
    assert deployment(docs)["spec"]["template"]["spec"]["serviceAccountName"] == "kubecanvas-operator"


# ------------------------------------------------------------------------- HA


def test_ha_cluster_wide(tmp_path: Path) -> None:
    docs = render(tmp_path, COMBINATIONS["ha"])
    spec = deployment(docs)["spec"]
    assert spec["replicas"] == 3
    assert "strategy" not in spec  # rolling: only the Lease holder runs, the others stand by
    args = spec["template"]["spec"]["containers"][0]["args"]
    assert args[-5:] == [
        "--leader-elect",
        "--lease-name",
        "kc-kubecanvas-operator",
        "--peering",
        "kc-kubecanvas",
    ]
    assert container_env(deployment(docs))["POD_NAMESPACE"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    leader = one(docs, "Role", "kc-kubecanvas-operator-leader")
    assert leader["metadata"]["namespace"] == "kubecanvas"
    assert leader["rules"] == [  # leadership.py: create the Lease, then get and update only it
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["kc-kubecanvas-operator"],
            "verbs": ["get", "update"],
        },
    ]
    assert (
        one(docs, "RoleBinding", "kc-kubecanvas-operator-leader")["roleRef"]["name"]
        == leader["metadata"]["name"]
    )
    assert one(docs, "ClusterKopfPeering", "kc-kubecanvas")
    assert one(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    granted = rules_by_resource(one(docs, "ClusterRole", "kc-kubecanvas-operator")["rules"])
    assert granted["clusterkopfpeerings.kopf.dev"] == {"list", "watch", "patch"}


def test_no_leader_election_without_ha(tmp_path: Path) -> None:
    docs = render(tmp_path, {})
    assert "--leader-elect" not in deployment(docs)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not find(docs, "Role", "kc-kubecanvas-operator-leader")


def test_ha_namespaced(tmp_path: Path) -> None:
    docs = render(tmp_path, COMBINATIONS["ha-watch-namespaces"])
    peering = one(docs, "KopfPeering", "kc-kubecanvas")
    assert peering["metadata"]["namespace"] == "chart-team-a"
    assert not find(docs, "ClusterKopfPeering")
    granted = rules_by_resource(one(docs, "Role", "kc-kubecanvas-operator")["rules"])
    assert granted["kopfpeerings.kopf.dev"] == {"list", "watch", "patch"}


def test_peering_crds_are_in_the_chart() -> None:
    names = {
        doc["metadata"]["name"]
        for path in (CHART / "crds").glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    }
    assert {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev", "workflows.kubecanvas.io"} <= names


# ------------------------------------------------------------------------- the webhook


def test_webhook_paths_are_where_kopf_serves_the_handlers(tmp_path: Path) -> None:
    from kubecanvas_operator.webhook import CRON_WEBHOOK_PATH_ID, WEBHOOK_PATH_ID
    from kubecanvas_operator.wiring import build_registry

    # Importing registers nothing (wiring.py builds the registry): the ids the operator serves.
    served = {handler.id for handler in build_registry(webhook=True)._webhooks.get_all_handlers()}
    assert served == {WEBHOOK_PATH_ID, CRON_WEBHOOK_PATH_ID}
    ids = {"WEBHOOK_PATH_ID": WEBHOOK_PATH_ID, "CRON_WEBHOOK_PATH_ID": CRON_WEBHOOK_PATH_ID}
    docs = render(tmp_path, {})
    configuration = one(docs, "ValidatingWebhookConfiguration", "kc-kubecanvas-webhook")
    paths = {
        hook["rules"][0]["resources"][0]: hook["clientConfig"]["service"]["path"]
        for hook in configuration["webhooks"]
    }
    # kopf's WebhookServer routes "/{id}" to the handler of that id (kopf/_kits/webhooks.py).
    assert paths == {
        "workflows": f"/{ids['WEBHOOK_PATH_ID']}",
        "cronworkflows": f"/{ids['CRON_WEBHOOK_PATH_ID']}",
    }
    for hook in configuration["webhooks"]:
        assert hook["rules"][0]["operations"] == ["CREATE", "UPDATE"]
        assert hook["failurePolicy"] == "Fail"
        assert hook["clientConfig"]["service"] == {
            "name": "kc-kubecanvas-webhook",
            "namespace": "kubecanvas",
            "port": 443,
            "path": hook["clientConfig"]["service"]["path"],
        }
    service = one(docs, "Service", "kc-kubecanvas-webhook")
    assert service["spec"]["ports"][0]["targetPort"] == "webhook"
    env = container_env(deployment(docs))
    assert env["KUBECANVAS_WEBHOOK_PORT"] == "9443"
    assert env["KUBECANVAS_WEBHOOK_CERT"] == "/etc/kubecanvas/webhook/tls.crt"


def openssl(*args: str, stdin: bytes | None = None) -> str:
    result = subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def subject_alt_names(pem: bytes) -> str:
    return openssl("x509", "-noout", "-ext", "subjectAltName", stdin=pem)


def test_generated_certificate_is_valid_for_the_service(tmp_path: Path) -> None:
    docs = render(tmp_path, {"webhook": {"failurePolicy": "Ignore"}})
    secret = one(docs, "Secret", "kc-kubecanvas-webhook-cert")
    certificate = base64.b64decode(secret["data"]["tls.crt"])
    assert "DNS:kc-kubecanvas-webhook.kubecanvas.svc" in subject_alt_names(certificate)
    configuration = one(docs, "ValidatingWebhookConfiguration")
    ca = base64.b64decode(configuration["webhooks"][0]["clientConfig"]["caBundle"])
    assert ca == base64.b64decode(secret["data"]["ca.crt"])
    (tmp_path / "ca.pem").write_bytes(ca)
    (tmp_path / "cert.pem").write_bytes(certificate)
    assert "cert.pem: OK" in openssl(
        "verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "cert.pem")
    )
    assert {hook["failurePolicy"] for hook in configuration["webhooks"]} == {"Ignore"}


def test_webhook_url_for_clusters_without_service_routing(tmp_path: Path) -> None:
    docs = render(tmp_path, {"webhook": {"url": "https://127.0.0.1:39443", "port": 39443}})
    configuration = one(docs, "ValidatingWebhookConfiguration")
    urls = [hook["clientConfig"]["url"] for hook in configuration["webhooks"]]
    assert urls == [
        "https://127.0.0.1:39443/validate-workflow",
        "https://127.0.0.1:39443/validate-cronworkflow",
    ]
    # The Service is the results API's only.
    assert [p["name"] for p in one(docs, "Service", "kc-kubecanvas-webhook")["spec"]["ports"]] == ["api"]
    secret = one(docs, "Secret", "kc-kubecanvas-webhook-cert")
    assert "IP Address:127.0.0.1" in subject_alt_names(base64.b64decode(secret["data"]["tls.crt"]))


def test_cert_manager(tmp_path: Path) -> None:
    docs = render(tmp_path, COMBINATIONS["cert-manager"])
    assert not find(docs, "Secret", "kc-kubecanvas-webhook-cert")  # cert-manager writes it
    certificate = one(docs, "Certificate", "kc-kubecanvas-webhook")
    assert certificate["apiVersion"] == "cert-manager.io/v1"
    assert certificate["spec"]["secretName"] == "kc-kubecanvas-webhook-cert"
    assert "kc-kubecanvas-webhook.kubecanvas.svc" in certificate["spec"]["dnsNames"]
    assert certificate["spec"]["issuerRef"] == {
        "name": "kc-kubecanvas-webhook-selfsigned",
        "kind": "Issuer",
        "group": "cert-manager.io",
    }
    assert one(docs, "Issuer", "kc-kubecanvas-webhook-selfsigned")["spec"] == {"selfSigned": {}}
    configuration = one(docs, "ValidatingWebhookConfiguration")
    assert configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == (
        "kubecanvas/kc-kubecanvas-webhook"
    )
    assert all("caBundle" not in hook["clientConfig"] for hook in configuration["webhooks"])

    docs = render(tmp_path, COMBINATIONS["cert-manager-issuer"])
    assert not find(docs, "Issuer")
    assert one(docs, "Certificate")["spec"]["issuerRef"] == {"name": "corp-ca", "kind": "ClusterIssuer"}


def test_webhook_disabled(tmp_path: Path) -> None:
    docs = render(tmp_path, {"webhook": {"enabled": False}})
    assert not find(docs, "ValidatingWebhookConfiguration")
    env = container_env(deployment(docs))
    assert "KUBECANVAS_WEBHOOK_CERT" not in env  # the operator then never imports webhook.py
    [container] = deployment(docs)["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}


# ------------------------------------------------------------------------- helm test


def test_selftest_hook(tmp_path: Path) -> None:
    docs = render(tmp_path, {})
    pod = one(docs, "Pod", "kc-kubecanvas-selftest")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "kubecanvas_operator.selftest"]
    assert "--check-webhook" in container["args"]
    role = one(docs, "Role", "kc-kubecanvas-selftest")
    assert rules_by_resource(role["rules"]) == {
        "workflows.kubecanvas.io": {"create", "get", "delete"},
        "jobs.batch": {"create"},  # what its Workflow has the operator do: the webhook checks
        "configmaps/kc-kubecanvas-selftest": {"get"},
    }
    config_map = one(docs, "ConfigMap", "kc-kubecanvas-selftest")
    namespace: dict[str, Any] = {}
    exec(compile(config_map["data"]["selftesttasks.py"], "selftesttasks.py", "exec"), namespace)
    from kubecanvas_operator import selftest

    assert selftest.TASK == "selftesttasks.square"
    assert namespace["square"](selftest.ARGUMENT) == selftest.EXPECTED
    options = selftest.build_parser().parse_args(container["args"])  # the module accepts them
    assert (options.namespace, options.config_map, options.check_webhook) == (
        "kubecanvas",
        "kc-kubecanvas-selftest",
        True,
    )


def test_selftest_runs_where_the_operator_watches(tmp_path: Path) -> None:
    docs = render(tmp_path, {"watchNamespaces": ["chart-team-a"]})
    pod = one(docs, "Pod", "kc-kubecanvas-selftest")
    assert pod["metadata"]["namespace"] == "chart-team-a"
    assert pod["spec"]["containers"][0]["args"][:2] == ["--namespace", "chart-team-a"]


def test_notes_tell_the_next_command(tmp_path: Path) -> None:
    result = helm(
        "install", "kc", str(CHART), "--dry-run=client", "--namespace", "kubecanvas",
        "-f", str(values_file(tmp_path, {})),
    )  # fmt: skip
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "kubectl -n kubecanvas apply -f examples/quickstart.yaml" in notes
    assert "kubectl -n kubecanvas get workflows" in notes
    assert "helm test kc -n kubecanvas" in notes
