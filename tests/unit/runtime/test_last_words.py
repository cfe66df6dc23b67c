"""A runtime that ends without reporting leaves its reason where the kubelet reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubecanvas.execution.exit_codes import EXIT_STORE_UNREACHABLE
from kubecanvas_runtime import __main__ as runtime


def test_giving_up_writes_the_reason_to_the_termination_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "termination-log"
    path.write_text("")  # the kubelet makes the file; the runtime only writes it
    monkeypatch.setattr(runtime, "TERMINATION_MESSAGE_PATH", str(path))

    assert runtime.give_up("Redis at redis://r:6379/0 is unreachable", EXIT_STORE_UNREACHABLE) == 75

    assert path.read_text() == "Redis at redis://r:6379/0 is unreachable\n"
    assert "[kubecanvas] Redis at redis://r:6379/0 is unreachable" in capsys.readouterr().err


def test_outside_a_pod_no_termination_file_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "termination-log"
    monkeypatch.setattr(runtime, "TERMINATION_MESSAGE_PATH", str(path))
    assert runtime.give_up("cannot start: no settings", 70) == 70
    assert not path.exists()
