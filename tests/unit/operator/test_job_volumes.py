"""A task pod's filesystem: read-only with a private /tmp by default; without volumes on
request, so that the kubelet starts it without its volume wait (it polls every 300 ms)."""

from __future__ import annotations

from typing import Any

from kubecanvas.graph.nodes import TaskNode
from kubecanvas_operator.config import OperatorConfig
from kubecanvas_operator.jobs import WorkflowIdentity, build_job

NODE = TaskNode(id="t0", index=0, task="m.add")


def pod(config: OperatorConfig, code: dict[str, Any] | None = None) -> dict[str, Any]:
    job = build_job(WorkflowIdentity("wf", "team", "uid-1", code=code), NODE, 1, config)
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


def test_by_default_the_root_is_read_only_and_tmp_a_private_emptydir() -> None:
    spec = pod(OperatorConfig())
    (container,) = spec["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert spec["volumes"] == [{"name": "tmp", "emptyDir": {}}]


def test_without_a_read_only_root_a_pod_has_no_volume_and_no_token() -> None:
    config = OperatorConfig.from_environ({"KUBECANVAS_TASK_READ_ONLY_ROOT": "false"})
    spec = pod(config, code={"git": {"url": "git://example/tasks.git"}})
    (container,) = spec["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is False
    assert "volumeMounts" not in container
    assert "volumes" not in spec
    assert spec["automountServiceAccountToken"] is False
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    from_config_map = pod(config, code={"configMap": {"name": "tasks"}})
    assert from_config_map["automountServiceAccountToken"] is False
    assert "volumes" not in from_config_map
    assert from_config_map["containers"][0]["envFrom"] == [
        {"configMapRef": {"name": "tasks"}, "prefix": "KUBECANVAS_CODE_FILE_"}
    ]


def test_a_task_gets_an_api_token_only_when_its_workflow_chose_its_service_account() -> None:
    node = TaskNode(id="t0", index=0, task="m.deploy", options={"serviceAccountName": "deployer"})
    job = build_job(WorkflowIdentity("wf", "team", "uid-1"), node, 1, OperatorConfig())
    spec = job["spec"]["template"]["spec"]
    assert (spec["serviceAccountName"], spec["automountServiceAccountToken"]) == ("deployer", True)
    assert pod(OperatorConfig())["automountServiceAccountToken"] is False  # the default account: none
