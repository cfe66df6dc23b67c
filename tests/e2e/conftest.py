"""End-to-end fixtures: the real operator running against the local cluster."""

from __future__ import annotations

import contextlib
import functools
import http.server
import subprocess
import textwrap
import threading
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from support.cluster import Cluster
from support.operator import OperatorProcess, Workflows, free_port
from support.waiting import wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="session")
def operator(cluster: Cluster) -> Iterator[OperatorProcess]:
    """One operator for the session (tests that kill it start it again)."""
    cluster.kubectl("apply", "-f", str((cluster.root / "crds").resolve()))
    process = OperatorProcess(cluster, log_path=cluster.root / ".cluster/logs/operator-e2e.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def workflows(cluster: Cluster, operator: OperatorProcess, namespace: str) -> Workflows:
    """Workflows in this test's namespace, with the contract's tasks in a ConfigMap `conftasks`."""
    if operator.process is None:
        operator.start()
    helper = Workflows(cluster, namespace)
    helper.config_map_from("conftasks", [EXAMPLES / "conftasks.py"])
    return helper


@pytest.fixture
def http_port(operator: OperatorProcess) -> int:
    """The operator's HTTP API (metrics, workflow documents), answering."""
    if operator.process is None:
        operator.start()

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{operator.http_port}/healthz", timeout=2):
                return True
        except OSError:
            return False

    wait_until(answers, timeout=30, what="the operator's HTTP API")
    return operator.http_port


CONFTASKS = {"configMap": {"name": "conftasks"}}
# A task module the code-source tests serve from git, pip and a ConfigMap.
SHOUT_TASKS = textwrap.dedent(
    """
    def shout(word, times=1):
        return (word.upper() + "!") * times
    """
)


@contextlib.contextmanager
def served_git(cluster: Cluster, root: Path, files: Mapping[str, str]) -> Iterator[str]:
    """A repository of `files` (path -> text), tagged `v1`, served by `git daemon` on the
    node's address (the host's side of the pod bridge), where task pods reach it."""
    repository = root / "repos" / "tasks.git"
    for path, text in files.items():
        (repository / path).parent.mkdir(parents=True, exist_ok=True)
        (repository / path).write_text(text)

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
            f"--base-path={root / 'repos'}",
            f"--port={port}",
            f"--listen={cluster.env['KUBECANVAS_NODE_IP']}",
            str(root / "repos"),
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


@pytest.fixture
def git_server(cluster: Cluster, tmp_path: Path) -> Iterator[str]:
    """A repository with tasks in a subdirectory (`pkg/gittasks.py`)."""
    with served_git(cluster, tmp_path, {"pkg/gittasks.py": SHOUT_TASKS}) as url:
        yield url


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
