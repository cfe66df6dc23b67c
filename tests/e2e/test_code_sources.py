"""Task code pulled by the runtime in the pod: from a ConfigMap, a git repository, pip."""

from __future__ import annotations

from pathlib import Path

from e2e.conftest import SHOUT_TASKS, write_wheel
from support.operator import Workflows


def manifest(name: str, task: str, code: dict[str, object]) -> dict[str, object]:
    return {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"code": code, "canvas": {"task": task, "args": ["hey"], "kwargs": {"times": 2}}},
    }


def test_code_from_a_config_map(workflows: Workflows, tmp_path: Path) -> None:
    (tmp_path / "cmtasks.py").write_text(SHOUT_TASKS)
    workflows.config_map_from("cmtasks", [tmp_path / "cmtasks.py"])
    name = workflows.apply(manifest("from-configmap", "cmtasks.shout", {"configMap": {"name": "cmtasks"}}))
    status = workflows.wait_finished(name)["status"]
    assert (status["phase"], status["result"]) == ("Succeeded", "HEY!HEY!")
    [job] = workflows.jobs(name)
    spec = job["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False, "the kubelet passes the code: no token"


def test_a_config_map_file_too_big_for_the_environment_fails_saying_so(
    workflows: Workflows, tmp_path: Path
) -> None:
    """The kubelet passes a ConfigMap's files as variables, which Linux caps at 128 KiB each."""
    padding = "# " + "x" * 100 + "\n"
    (tmp_path / "bigtasks.py").write_text(SHOUT_TASKS + padding * 1400)  # ~143 KiB
    workflows.config_map_from("bigtasks", [tmp_path / "bigtasks.py"])
    name = workflows.apply(manifest("too-big", "bigtasks.shout", {"configMap": {"name": "bigtasks"}}))
    status = workflows.wait_finished(name)["status"]
    assert status["phase"] == "Failed"
    assert (
        "a file of spec.code.configMap, which travels in the environment, must be smaller"
        in (status["error"]["message"])
    )


def test_code_from_git(workflows: Workflows, git_server: str) -> None:
    code = {"git": {"url": git_server, "ref": "v1", "path": "pkg"}}
    name = workflows.apply(manifest("from-git", "gittasks.shout", code))
    status = workflows.wait_finished(name)["status"]
    assert (status["phase"], status["result"]) == ("Succeeded", "HEY!HEY!")


def test_code_from_pip_with_a_wheel_server(workflows: Workflows, wheel_server: tuple[str, Path]) -> None:
    url, wheels = wheel_server
    write_wheel(wheels, "piptasks", "1.0", SHOUT_TASKS)
    host = url.split("/")[2].split(":")[0]
    code = {"pip": {"packages": ["piptasks"], "findLinks": [url], "noIndex": True, "trustedHosts": [host]}}
    name = workflows.apply(manifest("from-pip", "piptasks.shout", code))
    status = workflows.wait_finished(name)["status"]
    assert (status["phase"], status["result"]) == ("Succeeded", "HEY!HEY!")


def test_a_missing_task_fails_with_a_message_naming_it(workflows: Workflows) -> None:
    name = workflows.apply(manifest("missing-task", "conftasks.nope", {"configMap": {"name": "conftasks"}}))
    status = workflows.wait_finished(name)["status"]
    assert status["phase"] == "Failed"
    assert status["error"]["taskId"] == "t0"
    assert "conftasks.nope" in status["error"]["message"]
