"""Small builders for the Pods and Jobs the tests create: only what a test varies is spelled out."""

from __future__ import annotations

from typing import Any


def container(command: list[str], name: str = "main", **extra: Any) -> dict[str, Any]:
    # The image is never pulled by the node agent; it is recorded in the status as written.
    return {"name": name, "image": "docker.io/library/python:3.11-slim", "command": command, **extra}


def pod(name: str, *containers: dict[str, Any], restart_policy: str = "Never", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": restart_policy, "containers": list(containers), **spec},
    }


def job(name: str, *containers: dict[str, Any], backoff_limit: int = 0, **job_spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            **job_spec,
            "template": {"spec": {"restartPolicy": "Never", "containers": list(containers)}},
        },
    }
