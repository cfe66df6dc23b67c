"""The runtime's one API read (a ConfigMap of task code): retried on a connection that does
not answer and on 429/5xx, never on a refusal such as 403 or 404."""

from __future__ import annotations

import io
import json
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from kubecanvas.errors import ClusterError
from kubecanvas_runtime import incluster


@pytest.fixture
def in_a_pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """A pod's environment, with urlopen answering from a script of outcomes."""
    (tmp_path / "token").write_text("t")
    monkeypatch.setattr(incluster, "SERVICE_ACCOUNT_DIR", tmp_path)
    monkeypatch.setattr(incluster.ssl, "create_default_context", lambda **_: None)
    monkeypatch.setattr(incluster.time, "sleep", lambda _: None)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    script: list[Any] = []

    def urlopen(request: Any, **_: Any) -> Any:
        outcome = script.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return io.BytesIO(json.dumps(outcome).encode())

    monkeypatch.setattr(incluster.urllib.request, "urlopen", urlopen)
    return script


def http_error(code: int) -> urllib.error.HTTPError:
    body = io.BytesIO(json.dumps({"message": f"status {code}"}).encode())
    return urllib.error.HTTPError("https://x", code, "", {}, body)  # type: ignore[arg-type]


def test_a_connection_that_times_out_is_tried_again(in_a_pod: list[Any]) -> None:
    in_a_pod += [TimeoutError("timed out"), http_error(503), {"data": {"a.py": "x = 1"}}]
    assert incluster.get_object("/api/v1/namespaces/n/configmaps/c") == {"data": {"a.py": "x = 1"}}
    assert in_a_pod == []


def test_a_refusal_is_not_retried(in_a_pod: list[Any]) -> None:
    in_a_pod += [http_error(403), {"never": "read"}]
    with pytest.raises(ClusterError, match="HTTP 403: status 403"):
        incluster.get_object("/api/v1/namespaces/n/configmaps/c")
    assert in_a_pod == [{"never": "read"}]


def test_giving_up_says_how_often_it_tried(in_a_pod: list[Any]) -> None:
    in_a_pod += [OSError("unreachable")] * 4
    with pytest.raises(ClusterError, match="after 4 attempts"):
        incluster.get_object("/api/v1/namespaces/n/configmaps/c")
