"""The pre-exec shim: a container's volumes appear at their mount paths, whatever the order.

Runs the real shim in a new mount namespace (root and mount namespaces needed, as for
the node agent itself)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import kubecanvas_nodeagent.shim as shim_module

SHIM = Path(shim_module.__file__)


@pytest.fixture
def mount_root() -> Iterator[Path]:
    """Mountpoints are created on the host (as a kubelet's would be): keep them out of /tmp."""
    root = Path("/var/tmp") / f"kubecanvas-shim-test-{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def run_in_container(mounts: list[list[object]], command: list[str]) -> subprocess.CompletedProcess[str]:
    read_errors, write_errors = os.pipe()
    try:
        spec = json.dumps({"isolate": True, "mounts": mounts})
        result = subprocess.run(
            [sys.executable, "-I", "-S", str(SHIM), str(write_errors), spec, *command],
            pass_fds=(write_errors,),
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        os.close(write_errors)
        write_errors = -1
        problem = os.read(read_errors, 4096).decode()
        assert not problem, f"the shim failed: {problem}"
        return result
    finally:
        os.close(read_errors)
        if write_errors >= 0:
            os.close(write_errors)


def test_a_volume_at_tmp_does_not_hide_the_sources_of_the_others(tmp_path: Path, mount_root: Path) -> None:
    """The agent's state (volume sources) may live under /tmp, where the pod mounts an emptyDir."""
    assert str(tmp_path).startswith("/tmp/")  # the case that broke: sources under /tmp
    scratch = tmp_path / "emptydir"
    scratch.mkdir()
    config = tmp_path / "configmap"
    config.mkdir()
    (config / "settings.txt").write_text("from the configmap\n")
    target = mount_root / "etc" / "app"
    # /tmp first, as in a pod spec that lists its emptyDir first: mounted over, the
    # configmap's source under /tmp would be gone unless it was opened beforehand.
    mounts: list[list[object]] = [[str(scratch), "/tmp", False], [str(config), str(target), True]]
    script = f"cat {target}/settings.txt; ls -A /tmp | wc -l; touch {target}/x"
    result = run_in_container(mounts, ["sh", "-c", script])
    lines = result.stdout.splitlines()
    assert lines[0] == "from the configmap"
    assert lines[1] == "0"  # /tmp is the pod's own (empty) directory
    assert "Read-only file system" in result.stderr  # a read-only volume stays read-only
    assert os.listdir(scratch) == []
