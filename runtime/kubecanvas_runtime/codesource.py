"""Put a workflow's task code on the import path: `spec.code` made real inside a pod.

- `configMap`: each key becomes a file (`tasks.py`, `helpers.py`, ...); the kubelet passes
  them in the environment (`CODE_FILE_PREFIX`), so the pod needs no API token;
- `git`: a shallow clone of `url` at `ref`, optionally a `path` inside it;
- `pip`: `pip install --target` into a private directory;
- `path`: a directory already in the image.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from kubecanvas.errors import CodeSourceError
from kubecanvas.execution.environment import CODE_FILE_PREFIX

__all__ = ["install_code"]


def install_code(code: dict[str, Any] | None, namespace: str, workdir: Path | None = None) -> list[str]:
    """Fetch the code and prepend its directories to `sys.path`; return them."""
    if not code:
        return []
    root = workdir or Path(tempfile.mkdtemp(prefix="kubecanvas-code-"))
    if "configMap" in code:
        paths = [_from_config_map(str(code["configMap"]["name"]), namespace, root / "configmap")]
    elif "git" in code:
        paths = [_from_git(code["git"], root / "git")]
    elif "pip" in code:
        paths = [_from_pip(code["pip"], root / "pip")]
    elif "path" in code:
        path = Path(str(code["path"]))
        if not path.is_dir():
            raise CodeSourceError(f"code path {path} is not a directory in this image")
        paths = [str(path)]
    else:
        raise CodeSourceError(f"unknown code source {sorted(code)}; expected configMap, git, pip or path")
    for path_text in reversed(paths):
        sys.path.insert(0, path_text)
    os.environ["PYTHONPATH"] = os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return paths


def _from_config_map(name: str, namespace: str, target: Path) -> str:
    """The ConfigMap's files, from the variables the kubelet set from it (the Job's `envFrom`),
    written out and then taken out of the environment (the task's own subprocesses need not
    carry them)."""
    files = {
        key[len(CODE_FILE_PREFIX) :]: os.environ.pop(key)
        for key in [key for key in os.environ if key.startswith(CODE_FILE_PREFIX)]
    }
    if not files:
        raise CodeSourceError(
            f"ConfigMap {namespace}/{name} gave this pod no file: put one key per Python file under "
            "its data (binaryData is not passed; before Kubernetes 1.32, keys with a dot were dropped)"
        )
    target.mkdir(parents=True, exist_ok=True)
    for key, text in files.items():
        if "/" in key or key in (".", ".."):
            raise CodeSourceError(f"ConfigMap {namespace}/{name}: {key!r} cannot be a file name")
        (target / key).write_text(text)
    return str(target)


def _from_git(source: dict[str, Any], target: Path) -> str:
    url, ref, subdir = str(source["url"]), source.get("ref"), source.get("path")
    clone = ["git", "clone", "--quiet", "--depth", "1"]
    if ref:
        clone += ["--branch", str(ref)]
    result = _run([*clone, url, str(target)])
    if result.returncode != 0 and ref:
        # A commit id cannot be cloned by --branch: fetch it instead.
        _run(["git", "init", "--quiet", str(target)])
        result = _run(["git", "-C", str(target), "fetch", "--quiet", "--depth", "1", url, str(ref)])
        if result.returncode == 0:
            result = _run(["git", "-C", str(target), "checkout", "--quiet", "FETCH_HEAD"])
    if result.returncode != 0:
        raise CodeSourceError(
            f"git clone of {url} at {ref or 'its default branch'} failed: {result.stderr.strip()}"
        )
    path = target / subdir if subdir else target
    if not path.is_dir():
        raise CodeSourceError(f"git repository {url} has no directory {subdir!r}")
    return str(path)


def _from_pip(source: dict[str, Any], target: Path) -> str:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
    ]
    if source.get("indexUrl"):
        command += ["--index-url", str(source["indexUrl"])]
    for link in source.get("findLinks") or []:
        command += ["--find-links", str(link)]
    for host in source.get("trustedHosts") or []:
        command += ["--trusted-host", str(host)]
    if source.get("noIndex"):
        command.append("--no-index")
    result = _run([*command, *map(str, source["packages"])])
    if result.returncode != 0:
        raise CodeSourceError(
            f"pip install {' '.join(source['packages'])} failed: {result.stderr.strip()[-2000:]}"
        )
    return str(target)


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except FileNotFoundError as error:
        raise CodeSourceError(f"{command[0]} is not installed in this image: {error}") from None
    except subprocess.TimeoutExpired:
        raise CodeSourceError(f"{' '.join(command[:3])} took longer than 10 minutes") from None
