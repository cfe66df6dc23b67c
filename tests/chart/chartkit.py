"""Helpers for the Helm chart's tests, imported as `chartkit`: helm, rendering, value sets.

The static tests (lint, rendering, the CRD drift check) need only `.bin/helm`; the ones
marked `cluster` validate the rendering against the API server and install the chart.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kubecanvas"
HELM = ROOT / ".bin" / "helm"  # the pinned build (make tools), never one on PATH

# Value sets every lint and server-side validation runs with: the defaults and the
# combinations the chart documents. Each is a `--set`-free values mapping.
COMBINATIONS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "external-redis": {
        "redis": {
            "enabled": False,
            "external": {"url": "rediss://redis.example.com:6380/0", "existingSecret": "managed-redis"},
        }
    },
    "external-redis-no-password": {
        "redis": {"enabled": False, "external": {"url": "redis://127.0.0.1:6379/0"}},
        "webhook": {"url": "https://127.0.0.1:9443"},
    },
    "redis-sentinel": {
        "redis": {
            "enabled": False,
            "external": {
                "url": "redis+sentinel://sentinel-0.redis:26379,sentinel-1.redis:26379/kcmaster/0",
                "existingSecret": "managed-redis",
            },
        }
    },
    "watch-namespaces": {"watchNamespaces": ["chart-team-a", "chart-team-b"]},
    "ha": {"ha": {"enabled": True, "replicas": 3}},
    "ha-watch-namespaces": {"ha": {"enabled": True}, "watchNamespaces": ["chart-team-a"]},
    "cert-manager": {"webhook": {"certManager": {"enabled": True}}},
    "cert-manager-issuer": {
        "webhook": {
            "certManager": {"enabled": True, "issuerRef": {"name": "corp-ca", "kind": "ClusterIssuer"}}
        }
    },
    "minimal": {
        "webhook": {"enabled": False},
        "redis": {"persistence": {"enabled": False}},
        "tasks": {"manageIdentity": False},
        "rbac": {"create": False},
        "serviceAccount": {"create": False, "name": "kubecanvas-operator"},
    },
}


def require_helm() -> Path:
    if not HELM.exists():
        pytest.skip(f"{HELM} is not built: run `make tools`")
    return HELM


def helm(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(require_helm()), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def values_file(tmp_path: Path, values: dict[str, Any], name: str = "values.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(values))
    return path


def template_text(
    tmp_path: Path, values: dict[str, Any], *, release: str = "kc", namespace: str = "kubecanvas"
) -> str:
    return helm(
        "template", release, str(CHART), "--namespace", namespace, "-f", str(values_file(tmp_path, values))
    ).stdout


def render(
    tmp_path: Path, values: dict[str, Any], *, release: str = "kc", namespace: str = "kubecanvas"
) -> list[dict[str, Any]]:
    """`helm template` as a list of objects (test hooks included)."""
    text = template_text(tmp_path, values, release=release, namespace=namespace)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def find(docs: Iterable[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: Iterable[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, (
        f"expected one {kind} {name or ''}, found {[d['metadata']['name'] for d in found]}"
    )
    return found[0]


def container_env(deployment: dict[str, Any]) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}
