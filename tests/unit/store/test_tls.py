"""Redis over TLS with a certificate a private CA signed: a real redis-server with TLS here.
The URL names the CA file (`?ssl_ca_certs=`, redis-py's name) for the operator and the CLI;
task pods, which have not got the file, get the CA itself from the operator."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubecanvas.errors import StoreConnectionError
from kubecanvas.execution import environment as runtime_env
from kubecanvas.graph.nodes import TaskNode
from kubecanvas.store.hostside import connect_async
from kubecanvas.store.wire import Connection
from kubecanvas_operator.config import OperatorConfig
from kubecanvas_operator.jobs import WorkflowIdentity, build_job
from support.redis import free_port


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """(port, CA file) of a redis-server speaking TLS only, its certificate signed by a new CA."""
    binary = shutil.which("redis-server")
    if binary is None or shutil.which("openssl") is None:
        pytest.fail("redis-server and openssl are needed (hack/install-deps.sh)")
    directory = tmp_path_factory.mktemp("tls")
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    cert, key, csr, ext = (directory / name for name in ("redis.crt", "redis.key", "redis.csr", "ext"))
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    openssl(
        "req",
        "-x509",
        *curve,
        "-days",
        "1",
        "-subj",
        "/CN=kubecanvas-test-ca",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
    )
    openssl("req", *curve, "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(csr))
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-days", "1", "-extfile", str(ext), "-out", str(cert),
    )  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [
            binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(ca),
            "--tls-auth-clients", "no", "--dir", str(directory),
        ],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            Connection.from_url(f"rediss://127.0.0.1:{port}/0", ca=ca.read_text(), retry_for=0).execute(
                "PING"
            )
            break
        except Exception:  # noqa: BLE001 - not up yet
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("redis-server with TLS did not start")
            time.sleep(0.05)
    try:
        yield port, ca
    finally:
        server.terminate()
        server.wait(10)


def test_task_pods_trust_the_ca_named_in_the_url_or_given_to_them(tls_redis: tuple[int, Path]) -> None:
    port, ca = tls_redis
    assert Connection.from_url(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}").execute("PING") == "PONG"
    assert Connection.from_url(f"rediss://127.0.0.1:{port}/0", ca=ca.read_text()).execute("PING") == "PONG"
    untrusted = Connection.from_url(f"rediss://127.0.0.1:{port}/0", retry_for=0.3)
    with pytest.raises(StoreConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        untrusted.execute("PING")


def test_the_operator_and_the_cli_read_the_same_url(tls_redis: tuple[int, Path]) -> None:
    port, ca = tls_redis

    async def ping(url: str, pem: str | None = None) -> bool:
        client = connect_async(url, ca=pem)
        try:
            return bool(await client.ping())
        finally:
            await client.aclose()

    assert asyncio.run(ping(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}"))
    # The chart gives the operator the CA itself, from a Secret (KUBECANVAS_REDIS_CA).
    assert asyncio.run(ping(f"rediss://127.0.0.1:{port}/0", ca.read_text()))


def test_the_operator_gives_its_task_pods_the_ca(tls_redis: tuple[int, Path]) -> None:
    port, ca = tls_redis
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}"
    config = OperatorConfig.from_environ({"KUBECANVAS_REDIS_URL": url})
    assert config.redis_ca == ca.read_text()
    job = build_job(WorkflowIdentity("wf", "team", "u1"), TaskNode(id="t0", index=0, task="m.add"), 1, config)
    env = {
        item["name"]: item.get("value") for item in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env[runtime_env.REDIS_CA] == ca.read_text()
    settings = runtime_env.RuntimeSettings.from_environ(
        {
            **{k: v for k, v in env.items() if v is not None},
            runtime_env.REDIS_URL: f"rediss://127.0.0.1:{port}/0",
        }
    )
    assert settings.redis_ca == ca.read_text()


def test_a_ca_file_that_cannot_be_read_is_a_clear_error() -> None:
    from kubecanvas.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="CA file"):
        OperatorConfig.from_environ(
            {"KUBECANVAS_REDIS_URL": "rediss://r:6380/0?ssl_ca_certs=/nonexistent/ca.pem"}
        )
