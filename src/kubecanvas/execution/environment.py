"""The runtime's contract with whoever starts it: the environment variables it reads.

The operator builds each task's Job from these names (and only these), so this
module is the one place both sides agree on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from kubecanvas.errors import ConfigurationError
from kubecanvas.store.layout import DEFAULT_EVENTS_STREAM

__all__ = [
    "ATTEMPT",
    "CODE",
    "CODE_FILE_PREFIX",
    "EVENTS_STREAM",
    "EXPIRES_AT",
    "IMPORTS",
    "REDIS_CA",
    "REDIS_PASSWORD",
    "REDIS_URL",
    "REDIS_USERNAME",
    "RUNNER_FLAG",
    "RUNNER_GRACE_SECONDS",
    "RUNNER_IDLE_SECONDS",
    "RUNNER_NAME",
    "RUNNER_POOL",
    "TASK_ID",
    "WORKFLOW",
    "WORKFLOW_UID",
    "RunnerSettings",
    "RuntimeSettings",
    "imports_from",
]

TASK_ID = "KUBECANVAS_TASK_ID"  # also visible to the task itself
ATTEMPT = "KUBECANVAS_ATTEMPT"  # 1 for the first attempt; also visible to the task
WORKFLOW = "KUBECANVAS_WORKFLOW"  # namespace/name, for logs and the task's request
WORKFLOW_UID = "KUBECANVAS_WORKFLOW_UID"  # where the workflow lives in Redis
REDIS_URL = "KUBECANVAS_REDIS_URL"
REDIS_PASSWORD = "KUBECANVAS_REDIS_PASSWORD"  # noqa: S105 - a variable name; its value comes from a Secret
REDIS_CA = "KUBECANVAS_REDIS_CA"  # PEM of a private CA that signed Redis' TLS certificate
REDIS_USERNAME = "KUBECANVAS_REDIS_USERNAME"  # the workflow's own Redis user (store/tenancy.py)
EVENTS_STREAM = "KUBECANVAS_EVENTS_STREAM"
CODE = "KUBECANVAS_CODE"  # the workflow's spec.code as JSON; absent when code is in the image
EXPIRES_AT = "KUBECANVAS_EXPIRES_AT"  # epoch seconds: do not start after this
CODE_FILE_PREFIX = "KUBECANVAS_CODE_FILE_"
"""`spec.code.configMap`'s files reach the pod as variables `<prefix><key>` (the Job's
`envFrom`, which the kubelet fills): no API token, no volume, no API call from the pod."""
IMPORTS = "KUBECANVAS_IMPORTS"  # spec.imports as a JSON list: modules to import before finding tasks

# A warm runner's (operator/runners.py, runtime/runner.py): it has no TASK_ID or ATTEMPT of
# its own; each attempt it takes from its pool's queue names them (the forked process sees
# them in these same variables).
RUNNER_FLAG = "--runner"  # the runtime's one argument when it is a runner
RUNNER_POOL = "KUBECANVAS_RUNNER_POOL"  # the pool whose queue it serves
RUNNER_NAME = "KUBECANVAS_RUNNER_NAME"  # its own name: its hands in Redis (`run:held:<name>`)
RUNNER_IDLE_SECONDS = "KUBECANVAS_RUNNER_IDLE_SECONDS"  # it exits after this long without work
RUNNER_GRACE_SECONDS = "KUBECANVAS_RUNNER_GRACE_SECONDS"  # a task past its timeout is killed this much later


def imports_from(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The workflow's `spec.imports`, as the operator (or the local runner) passed them."""
    text = environ.get(IMPORTS)
    if not text:
        return ()
    try:
        modules = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"{IMPORTS} is not JSON: {error}") from None
    if not isinstance(modules, list) or not all(isinstance(module, str) for module in modules):
        raise ConfigurationError(f"{IMPORTS} must be a JSON list of module names, not {text!r}")
    return tuple(modules)


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    task_id: str
    attempt: int
    workflow: str
    workflow_uid: str
    redis_url: str
    redis_password: str | None
    events_stream: str
    redis_username: str | None
    redis_ca: str | None
    code: dict[str, object] | None
    expires_at: float | None
    imports: tuple[str, ...] = ()

    @property
    def namespace(self) -> str:
        """The workflow's namespace (where its code's ConfigMap is)."""
        return self.workflow.split("/", 1)[0] if "/" in self.workflow else "default"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ, *, task: bool = True) -> RuntimeSettings:
        """`task`: the environment names one attempt (a task pod); a runner's does not."""
        required = (TASK_ID, ATTEMPT, WORKFLOW_UID, REDIS_URL) if task else (WORKFLOW_UID, REDIS_URL)
        missing = [name for name in required if not environ.get(name)]
        if missing:
            raise ConfigurationError(f"missing environment variable(s): {', '.join(missing)}")
        try:
            attempt = int(environ.get(ATTEMPT) or 0)
        except ValueError:
            raise ConfigurationError(f"{ATTEMPT} must be a whole number, not {environ[ATTEMPT]!r}") from None
        code = None
        if environ.get(CODE):
            try:
                code = json.loads(environ[CODE])
            except json.JSONDecodeError as error:
                raise ConfigurationError(f"{CODE} is not JSON: {error}") from None
        expires = environ.get(EXPIRES_AT)
        return cls(
            imports=imports_from(environ),
            task_id=environ.get(TASK_ID, ""),
            attempt=attempt,
            workflow=environ.get(WORKFLOW, ""),
            workflow_uid=environ[WORKFLOW_UID],
            redis_url=environ[REDIS_URL],
            redis_password=environ.get(REDIS_PASSWORD) or None,
            events_stream=environ.get(EVENTS_STREAM) or DEFAULT_EVENTS_STREAM,
            redis_username=environ.get(REDIS_USERNAME) or None,
            redis_ca=environ.get(REDIS_CA) or None,
            code=code if isinstance(code, dict) else None,
            expires_at=float(expires) if expires else None,
        )


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    """A warm runner's settings: what every attempt it runs shares (`task`, without a task
    id or attempt), and its own."""

    task: RuntimeSettings
    pool: str
    name: str
    idle_seconds: float
    grace_seconds: float

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> RunnerSettings:
        missing = [name for name in (RUNNER_POOL, RUNNER_NAME) if not environ.get(name)]
        if missing:
            raise ConfigurationError(f"missing environment variable(s): {', '.join(missing)}")
        return cls(
            task=RuntimeSettings.from_environ(environ, task=False),
            pool=environ[RUNNER_POOL],
            name=environ[RUNNER_NAME],
            idle_seconds=_seconds(environ, RUNNER_IDLE_SECONDS, 60.0),
            grace_seconds=_seconds(environ, RUNNER_GRACE_SECONDS, 30.0),
        )


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, not {text!r}") from None
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative, not {text!r}")
    return value
