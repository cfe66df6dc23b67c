"""The Job of one task attempt, built from the task's node and effective options.

One Job per attempt, named deterministically; `backoffLimit: 0` and
`restartPolicy: Never` because retries are the engine's business, not the Job
controller's. The container runs the runtime entrypoint with the environment the
runtime's contract (`kubecanvas.execution.environment`) asks for.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from kubecanvas._kits.jsonvalues import JSONObject, dumps
from kubecanvas.execution import environment as runtime_env
from kubecanvas.execution.exit_codes import TERMINATION_MESSAGE_PATH
from kubecanvas.graph.nodes import TaskNode
from kubecanvas.resources import (
    ATTEMPT_LABEL,
    MANAGED_BY,
    RUNNER_POOL_LABEL,
    TASK_ANNOTATION,
    TASK_ID_LABEL,
    TASK_NAME_LABEL,
    WORKFLOW,
    WORKFLOW_LABEL,
    WORKFLOW_UID_LABEL,
    job_name,
    label_value,
)
from kubecanvas_operator.clients import RedisCredentials
from kubecanvas_operator.config import OperatorConfig
from kubecanvas_operator.queues import with_queue

__all__ = ["WorkflowIdentity", "build_job", "build_runner_job", "job_labels", "runner_labels"]

PASSWORD_KEY = "password"  # noqa: S105 - the key inside the Secret, not a password
SCRATCH_VOLUME = "tmp"
# A task runs as the runtime image's non-root user (10001), whatever the image says, with no
# capability and no way to gain one; the Pod Security "restricted" profile.
POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


@dataclass(frozen=True, slots=True)
class WorkflowIdentity:
    """Which Workflow a Job belongs to, and what every one of its tasks needs."""

    name: str
    namespace: str
    uid: str
    code: JSONObject | None = None
    imports: tuple[str, ...] = ()  # spec.imports: what the runtime imports to find tasks by name

    @property
    def qualified(self) -> str:
        return f"{self.namespace}/{self.name}"

    def log_fields(self, task_id: str | None = None, attempt: int | None = None) -> dict[str, Any]:
        """What a log line says about this workflow (and task): fields of its own in
        `--log-format json`."""
        fields: dict[str, Any] = {"workflow": self.name, "namespace": self.namespace, "workflowUid": self.uid}
        if task_id is not None:
            fields["task"] = task_id
        if attempt is not None:
            fields["attempt"] = attempt
        return fields


def job_labels(workflow: WorkflowIdentity, node: TaskNode, attempt: int) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        WORKFLOW_LABEL: label_value(workflow.name),
        WORKFLOW_UID_LABEL: workflow.uid,
        TASK_ID_LABEL: label_value(node.id),
        TASK_NAME_LABEL: label_value(node.task),
        ATTEMPT_LABEL: str(attempt),
    }


def build_job(
    workflow: WorkflowIdentity,
    node: TaskNode,
    attempt: int,
    config: OperatorConfig,
    *,
    expires_at: float | None = None,
    redis: RedisCredentials | None = None,
) -> dict[str, Any]:
    """The Job manifest for attempt `attempt` of `node`."""
    options = with_queue(node.options, config.queues)
    labels = job_labels(workflow, node, attempt)
    annotations = {TASK_ANNOTATION: node.task}
    ours = [
        {"name": runtime_env.TASK_ID, "value": node.id},
        {"name": runtime_env.ATTEMPT, "value": str(attempt)},
    ]
    if expires_at is not None:
        ours.append({"name": runtime_env.EXPIRES_AT, "value": repr(expires_at)})
    environment = _environment(workflow, options, ours, config, redis=redis)
    job_spec = _job_spec(workflow, options, environment, list(config.runtime_command), config)
    job_spec["template"]["metadata"] = {"labels": labels, "annotations": annotations}
    timeout = options.get("timeout")
    if isinstance(timeout, int | float):
        job_spec["activeDeadlineSeconds"] = math.ceil(timeout) + config.deadline_grace_seconds
    return _job(workflow, job_name(workflow.name, node.id, attempt), labels, annotations, job_spec)


def build_runner_job(
    workflow: WorkflowIdentity,
    pool: str,
    name: str,
    options: JSONObject,
    config: OperatorConfig,
    *,
    redis: RedisCredentials | None = None,
) -> dict[str, Any]:
    """The Job of warm runner `name` of `pool` (operator/runners.py): the pod template of
    the pool's tasks (`options`, their queue's under them), the runtime in `--runner` mode,
    no deadline (each attempt has its own, which the runner keeps)."""
    labels = runner_labels(workflow, pool)
    ours = [
        {"name": runtime_env.RUNNER_POOL, "value": pool},
        {"name": runtime_env.RUNNER_NAME, "value": name},
        {"name": runtime_env.RUNNER_IDLE_SECONDS, "value": repr(config.runner_idle_seconds)},
        {"name": runtime_env.RUNNER_GRACE_SECONDS, "value": str(config.deadline_grace_seconds)},
    ]
    environment = _environment(workflow, options, ours, config, redis=redis)
    command = [*config.runtime_command, runtime_env.RUNNER_FLAG]
    job_spec = _job_spec(workflow, options, environment, command, config)
    job_spec["template"]["metadata"] = {"labels": labels}
    return _job(workflow, name, labels, {}, job_spec)


def runner_labels(workflow: WorkflowIdentity, pool: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        WORKFLOW_LABEL: label_value(workflow.name),
        WORKFLOW_UID_LABEL: workflow.uid,
        RUNNER_POOL_LABEL: pool,
    }


def _job(
    workflow: WorkflowIdentity,
    name: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    job_spec: dict[str, Any],
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": workflow.namespace,
        "labels": labels,
        "ownerReferences": [WORKFLOW.owner_reference(workflow.name, workflow.uid)],
    }
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": job_spec}


def _job_spec(
    workflow: WorkflowIdentity,
    options: JSONObject,
    environment: list[dict[str, Any]],
    command: list[str],
    config: OperatorConfig,
) -> dict[str, Any]:
    """A Job's spec around one runtime container, placed and secured as every task's pod."""
    container: dict[str, Any] = {
        "name": "task",
        "image": options.get("image") or config.runtime_image,
        "command": command,
        "env": environment,
        "securityContext": copy.deepcopy(CONTAINER_SECURITY),
        # A runtime that cannot report leaves its reason here (execution/exit_codes.py).
        "terminationMessagePath": TERMINATION_MESSAGE_PATH,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    config_map = (workflow.code or {}).get("configMap")
    if isinstance(config_map, dict):
        # The kubelet reads the ConfigMap and passes its files as variables: the pod needs no
        # API token (so no volume for one) and makes no API call (runtime/codesource.py).
        container["envFrom"] = [
            {"configMapRef": {"name": config_map["name"]}, "prefix": runtime_env.CODE_FILE_PREFIX}
        ]
    if config.image_pull_policy:
        container["imagePullPolicy"] = config.image_pull_policy
    if isinstance(options.get("resources"), dict):
        container["resources"] = options["resources"]
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        "securityContext": copy.deepcopy(POD_SECURITY),
        "enableServiceLinks": False,  # no other Service's address in the task's environment
        # A token only for a task given an identity of its own (`serviceAccountName`: by its
        # Workflow, which the webhook checks its author may use, or by its queue, the admin's):
        # a task meant to call the API. The runtime itself never does (the kubelet passes a
        # ConfigMap's code).
        "automountServiceAccountToken": bool(options.get("serviceAccountName")),
    }
    if config.task_read_only_root:
        # The task's code and scratch files go to a private emptyDir at /tmp.
        container["volumeMounts"] = [{"name": SCRATCH_VOLUME, "mountPath": "/tmp"}]  # noqa: S108
        pod_spec["volumes"] = [{"name": SCRATCH_VOLUME, "emptyDir": {}}]
    else:
        # No volume at all: the kubelet starts the pod without waiting for mounts
        # (WaitForAttachAndMount returns at once for a pod without volumes, else polls every
        # 300 ms); /tmp is the container's own writable layer.
        container["securityContext"]["readOnlyRootFilesystem"] = False
    service_account = options.get("serviceAccountName") or config.task_service_account
    if service_account:
        pod_spec["serviceAccountName"] = service_account
    if isinstance(options.get("nodeSelector"), dict):
        pod_spec["nodeSelector"] = options["nodeSelector"]
    if isinstance(options.get("tolerations"), list):
        pod_spec["tolerations"] = options["tolerations"]
    return {
        "backoffLimit": 0,
        "ttlSecondsAfterFinished": config.job_ttl_seconds,
        "template": {"spec": pod_spec},
    }


def _environment(
    workflow: WorkflowIdentity,
    options: JSONObject,
    own: list[dict[str, Any]],
    config: OperatorConfig,
    *,
    redis: RedisCredentials | None,
) -> list[dict[str, Any]]:
    """The task's own `env` (its queue's under it) first, then the runtime's contract (`own`:
    what names the attempt, or the runner; then what every runtime needs), which must win."""
    declared = options.get("env")
    user = [item for item in declared if isinstance(item, dict)] if isinstance(declared, list) else []
    ours: list[dict[str, Any]] = [
        *own,
        {"name": runtime_env.WORKFLOW, "value": workflow.qualified},
        {"name": runtime_env.WORKFLOW_UID, "value": workflow.uid},
        {"name": runtime_env.REDIS_URL, "value": config.redis_url_for_tasks},
        {"name": runtime_env.EVENTS_STREAM, "value": config.events_stream},
    ]
    if workflow.code:
        ours.append({"name": runtime_env.CODE, "value": dumps(workflow.code)})
    if workflow.imports:
        ours.append({"name": runtime_env.IMPORTS, "value": dumps(list(workflow.imports))})
    if config.redis_ca:  # a CA is public: the pod gets it inline, not a file it has not got
        ours.append({"name": runtime_env.REDIS_CA, "value": config.redis_ca})
    if redis is not None:
        ours.append(
            {
                "name": runtime_env.REDIS_PASSWORD,
                "valueFrom": {"secretKeyRef": {"name": redis.secret, "key": PASSWORD_KEY}},
            }
        )
        if redis.username:
            ours.append({"name": runtime_env.REDIS_USERNAME, "value": redis.username})
    reserved = {item["name"] for item in ours}
    return [item for item in user if item.get("name") not in reserved] + ours
