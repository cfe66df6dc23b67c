"""The runtime's one API read (a ConfigMap of task code): retried on a connection that does
not answer and on 429/5xx, never on a refusal such as 403 or 404."""

from __future__ import annotations

import io
import json
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from kubecanvas.errors import ClusterError, KubeApiError
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
    in_a_pod += [http_error(403), "ok (/readyz)", {"never": "read"}]
    with pytest.raises(ClusterError, match="HTTP 403: status 403"):
        incluster.get_object("/api/v1/namespaces/n/configmaps/c")
    assert in_a_pod == [{"never": "read"}]


def test_a_not_found_is_believed_at_once(in_a_pod: list[Any]) -> None:
    in_a_pod += [http_error(404), {"never": "read"}]
    with pytest.raises(ClusterError, match="HTTP 404"):
        incluster.get_object("/api/v1/namespaces/n/configmaps/c")
    assert in_a_pod == [{"never": "read"}]


@pytest.mark.parametrize("code", [401, 403])
def test_a_refusal_from_a_server_not_ready_yet_is_tried_again(in_a_pod: list[Any], code: int) -> None:
    """A kube-apiserver that just restarted answers before its RBAC and token caches are
    filled: a task pod was refused its own ConfigMap (403) a second after a restart."""
    in_a_pod += [http_error(code), http_error(500), {"data": {"a.py": "x = 1"}}]  # 500: /readyz
    assert incluster.get_object("/api/v1/namespaces/n/configmaps/c") == {"data": {"a.py": "x = 1"}}
    assert in_a_pod == []


def test_an_api_server_away_for_a_while_is_waited_for(
    in_a_pod: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart of the control plane (tens of seconds) must not fail a task that starts then."""
    now = [0.0]
    monkeypatch.setattr(incluster.time, "sleep", lambda seconds: now.__setitem__(0, now[0] + seconds))
    in_a_pod += [ConnectionRefusedError("refused")] * 12 + [{"data": {"a.py": "x = 1"}}]
    assert incluster.get_object("/api/v1/namespaces/n/configmaps/c", clock=lambda: now[0]) == {
        "data": {"a.py": "x = 1"}
    }
    assert 30 < now[0] < incluster.RETRY_FOR  # waited ~40 s of backoff, within the budget


def test_giving_up_says_how_long_it_tried(in_a_pod: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(incluster.time, "sleep", lambda seconds: now.__setitem__(0, now[0] + seconds))
    in_a_pod += [OSError("unreachable")] * 100
    with pytest.raises(KubeApiError, match=r"after \d+ attempts in 120s") as raised:
        incluster.get_object("/api/v1/namespaces/n/configmaps/c", clock=lambda: now[0])
    assert raised.value.status == 0  # never reached: the runtime exits as unable to reach the API
