"""Probe parsing (defaults, named ports) and the success/failure thresholds."""

from __future__ import annotations

import pytest

from kubecanvas_nodeagent.kubetypes import Container
from kubecanvas_nodeagent.probes import (
    ExecCheck,
    HttpCheck,
    ProbeError,
    ProbeSpec,
    TcpCheck,
    Thresholds,
    parse_probe,
)

CONTAINER: Container = {"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}


def test_http_probe_with_named_port_and_defaults() -> None:
    spec = parse_probe({"httpGet": {"port": "http", "path": "/healthz"}}, CONTAINER, "127.0.0.1")
    assert spec == ProbeSpec(HttpCheck("http", "127.0.0.1", 8080, "/healthz"), 0, 10, 1, 1, 3)


def test_https_probe_with_host_and_headers() -> None:
    probe = {
        "httpGet": {
            "port": 443,
            "scheme": "HTTPS",
            "host": "localhost",
            "httpHeaders": [{"name": "X", "value": "1"}],
        },
        "periodSeconds": 2,
        "timeoutSeconds": 5,
        "initialDelaySeconds": 3,
        "successThreshold": 2,
        "failureThreshold": 4,
    }
    spec = parse_probe(probe, CONTAINER, "127.0.0.1")  # type: ignore[arg-type]
    assert spec == ProbeSpec(HttpCheck("https", "localhost", 443, "/", (("X", "1"),)), 3, 2, 5, 2, 4)


def test_tcp_and_exec_probes() -> None:
    assert parse_probe({"tcpSocket": {"port": "8080"}}, CONTAINER, "127.0.0.1").check == TcpCheck(
        "127.0.0.1", 8080
    )
    assert parse_probe({"exec": {"command": ["true"]}}, CONTAINER, "127.0.0.1").check == ExecCheck(("true",))


@pytest.mark.parametrize(
    "probe",
    [{"tcpSocket": {"port": "nope"}}, {"grpc": {"port": 9000}}, {"exec": {"command": []}}, {}],
)
def test_bad_probes_are_rejected(probe: dict[str, object]) -> None:
    with pytest.raises(ProbeError):
        parse_probe(probe, CONTAINER, "127.0.0.1")  # type: ignore[arg-type]


def test_thresholds_flip_only_after_consecutive_results() -> None:
    thresholds = Thresholds(
        ProbeSpec(ExecCheck(("x",)), success_threshold=2, failure_threshold=3), initial=False
    )
    assert [thresholds.record(ok) for ok in (True, False, True, True)] == [False, False, False, True]
    assert thresholds.verdict is True
    assert [thresholds.record(ok) for ok in (False, False, True, False, False, False)] == [
        False, False, False, False, False, True,
    ]  # fmt: skip
    assert thresholds.verdict is False


def test_startup_verdict_starts_unknown() -> None:
    thresholds = Thresholds(ProbeSpec(ExecCheck(("x",)), failure_threshold=1), initial=None)
    assert thresholds.verdict is None
    assert thresholds.record(True) is True
