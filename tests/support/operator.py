"""The kubecanvas operator as a real process against the local cluster, for e2e tests.

Tests apply Workflows with `kubectl apply -f`, as users do, and read them back
through the API and Redis, as `kubecanvas get` does.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.cluster import Cluster
from support.waiting import wait_until

FINISHED = ("Succeeded", "Failed", "Revoked")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """In the child: SIGTERM when the test process dies. A pytest killed mid-run must not
    leave its operator behind to race the next run's operator for the same Workflows."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class OperatorProcess:
    cluster: Cluster
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    # The test namespaces (tests/conftest.py), not the chart tests' `c-*` ones. An operator
    # of a test of its own (a webhook, another Redis) watches only that test's namespaces,
    # never `t-*`: two operators would both launch every Workflow there.
    namespaces: tuple[str, ...] = ("t-*",)
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    http_port: int = 0

    def start(self) -> None:
        self.port = free_port()
        # Its HTTP API (metrics, documents) on a free port too: every operator on this
        # machine shares the host's network, test operators and deployed ones alike.
        self.http_port = self.http_port or free_port()
        command = [
            str(self.cluster.root / ".venv/bin/kubecanvas-operator"),
            "--liveness",
            f"http://127.0.0.1:{self.port}/healthz",
            *(argument for namespace in self.namespaces for argument in ("--namespace", namespace)),
        ]
        env = {
            **os.environ,
            "KUBECONFIG": str(self.cluster.kubeconfig),
            "KUBECANVAS_REDIS_URL": self.cluster.redis_url,
            # Task pods run the runtime image `make images` built from this checkout.
            "KUBECANVAS_RUNTIME_IMAGE": self.cluster.env["KUBECANVAS_RUNTIME_IMAGE"],
            "KUBECANVAS_STATUS_INTERVAL": "0.2",
            "KUBECANVAS_HTTP_PORT": str(self.http_port),
            # A succeeded task's pod stays this long (30 s in production): long enough for
            # `kubecanvas logs -f` on a loaded machine, short enough for tests that wait for it.
            "KUBECANVAS_SUCCEEDED_JOB_TTL_SECONDS": "10",
            # A pod no node can take fails its attempt after this (300 s in production).
            "KUBECANVAS_UNSCHEDULABLE_TIMEOUT_SECONDS": "5",
            # A warm runner with no work exits after this (60 s in production).
            "KUBECANVAS_RUNNER_IDLE_SECONDS": "3",
            # One queue (the chart's `tasks.queues`), which tests/e2e/test_operator.py uses.
            "KUBECANVAS_QUEUES": json.dumps({"marked": {"env": [{"name": "QUEUE_MARK", "value": "marked"}]}}),
            **self.env,
        }
        log = self.log_path.open("ab")
        # preexec_fn only calls prctl (async-signal-safe), so forking from a threaded pytest is fine.
        self.process = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,  # noqa: PLW1509
        )
        log.close()
        wait_until(
            self.healthy, timeout=60, what=f"the operator to answer on :{self.port} (log {self.log_path})"
        )

    def healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"the operator exited with {self.process.returncode}; see {self.log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """kill -9: no chance to clean up, as in a node crash."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Workflows:
    """Apply and read Workflows in one namespace."""

    def __init__(self, cluster: Cluster, namespace: str, redis_url: str | None = None) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.redis_url = redis_url or cluster.redis_url  # where their operator keeps their state

    def apply(self, manifest: dict[str, Any] | Path, *, code: dict[str, Any] | None = None) -> str:
        """`kubectl apply -f` a manifest (a file, or a mapping written to a file); return its name."""
        document = yaml.safe_load(manifest.read_text()) if isinstance(manifest, Path) else manifest
        if code is not None:
            document = {**document, "spec": {**document["spec"], "code": code}}
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
            yaml.safe_dump(document, handle)
        try:
            self.cluster.kubectl("apply", "-n", self.namespace, "-f", handle.name)
        finally:
            os.unlink(handle.name)
        return str(document["metadata"]["name"])

    def get(self, name: str) -> dict[str, Any]:
        return json.loads(self.cluster.kubectl("get", "workflow", name, "-n", self.namespace, "-o", "json"))

    def wait_finished(self, name: str, timeout: float = 120) -> dict[str, Any]:
        body: dict[str, Any] = {}

        def finished() -> Any:
            nonlocal body
            body = self.get(name)
            phase = (body.get("status") or {}).get("phase")
            return phase in FINISHED and phase

        try:
            wait_until(finished, timeout=timeout, what=f"workflow {name} to finish")
        except pytest.fail.Exception:
            pytest.fail(f"workflow {name} did not finish in {timeout:g}s; its status: {body.get('status')}")
        return body

    def document(self, name: str) -> dict[str, Any]:
        """What `kubecanvas get NAME -o json` prints."""
        from kubecanvas.client.documents import document_of
        from kubecanvas.store.hostside import WorkflowStore, connect_async

        async def fetch() -> dict[str, Any]:
            client = connect_async(self.redis_url)
            try:
                return dict(await document_of(self.get(name), WorkflowStore(client)))
            finally:
                await client.aclose()

        return asyncio.run(fetch())

    def jobs(self, name: str) -> list[dict[str, Any]]:
        listed = self.cluster.kubectl(
            "get", "jobs", "-n", self.namespace, "-l", f"kubecanvas.io/workflow={name}", "-o", "json"
        )
        return list(json.loads(listed)["items"])

    def pods(self, name: str) -> list[dict[str, Any]]:
        listed = self.cluster.kubectl(
            "get", "pods", "-n", self.namespace, "-l", f"kubecanvas.io/workflow={name}", "-o", "json"
        )
        return list(json.loads(listed)["items"])

    def config_map_from(self, name: str, files: Iterable[Path]) -> None:
        arguments = [f"--from-file={path}" for path in files]
        self.cluster.kubectl("create", "configmap", name, "-n", self.namespace, *arguments)


def wait_for_redis_keys_gone(redis_url: str, uid: str, timeout: float = 30) -> None:
    import redis

    from kubecanvas.store.layout import WorkflowKeys

    client = redis.Redis.from_url(redis_url)
    try:
        wait_until(
            lambda: not client.exists(*WorkflowKeys(uid).all()),
            timeout=timeout,
            what=f"the Redis keys of workflow {uid} to be deleted",
        )
    finally:
        client.close()


def elapsed_since(start: float) -> float:
    return time.monotonic() - start
