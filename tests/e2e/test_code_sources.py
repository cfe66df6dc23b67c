"""Task code pulled by the runtime in the pod: from a ConfigMap, a git repository, pip."""

from __future__ import annotations

import functools
import http.server
import subprocess
import textwrap
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cluster import Cluster
from support.operator import Workflows, free_port
from support.waiting import wait_until

TASKS = textwrap.dedent(
    """
    def shout(word, times=1):
        return (word.upper() + "!") * times
    """
)


def manifest(name: str, task: str, code: dict[str, object]) -> dict[str, object]:
    return {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"code": code, "canvas": {"task": task, "args": ["hey"], "kwargs": {"times": 2}}},
    }


def test_code_from_a_config_map(workflows: Workflows, tmp_path: Path) -> None:
    (tmp_path / "cmtasks.py").write_text(TASKS)
    workflows.config_map_from("cmtasks", [tmp_path / "cmtasks.py"])
    name = workflows.apply(manifest("from-configmap", "cmtasks.shout", {"configMap": {"name": "cmtasks"}}))
    status = workflows.wait_finished(name)["status"]
    assert (status["phase"], status["result"]) == ("Succeeded", "HEY!HEY!")


@pytest.fixture
def git_server(cluster: Cluster, tmp_path: Path) -> Iterator[str]:
    """A repository with tasks in a subdirectory, served by `git daemon` on the node's address
    (the host's side of the pod bridge), where task pods reach it."""
    repository = tmp_path / "repos" / "tasks.git"
    (repository / "pkg").mkdir(parents=True)
    (repository / "pkg" / "gittasks.py").write_text(TASKS)

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repository), *args], check=True, capture_output=True)

    git("init", "--quiet", "--initial-branch=main")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "add", ".")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "--quiet", "-m", "tasks")
    git("tag", "v1")
    port = free_port()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            f"--base-path={tmp_path / 'repos'}",
            f"--port={port}",
            f"--listen={cluster.env['KUBECANVAS_NODE_IP']}",
            str(tmp_path / "repos"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"git://{cluster.env['KUBECANVAS_NODE_IP']}:{port}/tasks.git"
    wait_until(
        lambda: subprocess.run(["git", "ls-remote", url], check=False, capture_output=True).returncode == 0,
        timeout=20,
        what="git daemon to serve the repository",
    )
    try:
        yield url
    finally:
        daemon.terminate()
        daemon.wait()


def test_code_from_git(workflows: Workflows, git_server: str) -> None:
    code = {"git": {"url": git_server, "ref": "v1", "path": "pkg"}}
    name = workflows.apply(manifest("from-git", "gittasks.shout", code))
    status = workflows.wait_finished(name)["status"]
    assert (status["phase"], status["result"]) == ("Succeeded", "HEY!HEY!")


def write_wheel(directory: Path, package: str, version: str, source: str) -> Path:
    """A minimal pure-Python wheel (a zip with its metadata), without build tools."""
    directory.mkdir(parents=True, exist_ok=True)
    dist_info = f"{package}-{version}.dist-info"
    files = {
        f"{package}/__init__.py": source,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: kubecanvas-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(f"{path},,\n" for path in files) + f"{dist_info}/RECORD,,\n"
    wheel = directory / f"{package}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in {**files, f"{dist_info}/RECORD": record}.items():
            archive.writestr(path, text)
    return wheel


@pytest.fixture
def wheel_server(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A directory of wheels served over HTTP on the node's address, as pip's `--find-links`."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(wheels))
    server = http.server.ThreadingHTTPServer((cluster.env["KUBECANVAS_NODE_IP"], 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{cluster.env['KUBECANVAS_NODE_IP']}:{server.server_address[1]}/", wheels
    finally:
        server.shutdown()
        server.server_close()


def test_code_from_pip_with_a_wheel_server(workflows: Workflows, wheel_server: tuple[str, Path]) -> None:
    url, wheels = wheel_server
    write_wheel(wheels, "piptasks", "1.0", TASKS)
    code = {"pip": {"packages": ["piptasks"], "findLinks": [url], "noIndex": True}}
    name = workflows.apply(manifest("from-pip", "piptasks.shout", code))
    status = workflows.wait_finished(name)["status"]
    assert (status["phase"], status["result"]) == ("Succeeded", "HEY!HEY!")


def test_a_missing_task_fails_with_a_message_naming_it(workflows: Workflows) -> None:
    name = workflows.apply(manifest("missing-task", "conftasks.nope", {"configMap": {"name": "conftasks"}}))
    status = workflows.wait_finished(name)["status"]
    assert status["phase"] == "Failed"
    assert status["error"]["taskId"] == "t0"
    assert "conftasks.nope" in status["error"]["message"]
