"""The operator's settings, read once from its environment (the Helm chart sets them).

Secrets come from Secrets: the Redis password arrives as an environment variable
filled by a `secretKeyRef`, never as a flag or a value in a ConfigMap.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from kubecanvas._kits.jsonvalues import JSONObject
from kubecanvas.errors import ConfigurationError
from kubecanvas.store.layout import DEFAULT_EVENTS_STREAM
from kubecanvas_operator.queues import parse_queues

__all__ = ["OperatorConfig"]


@dataclass(frozen=True, slots=True)
class OperatorConfig:
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_password: str | None = None
    task_redis_url: str | None = None  # as seen from task pods, when it differs
    redis_ca: str | None = None  # PEM of a private CA of Redis' TLS certificate, for task pods
    events_stream: str = DEFAULT_EVENTS_STREAM
    consumer_group: str = "kubecanvas-operator"
    runtime_image: str = "ghcr.io/kubecanvas/runtime:0.1.0"
    runtime_command: tuple[str, ...] = ("kubecanvas-runtime",)
    image_pull_policy: str | None = None
    task_service_account: str | None = "kubecanvas-task"
    manage_task_identity: bool = True  # create the task ServiceAccount/RoleBinding per namespace
    redis_secret_name: str = "kubecanvas-task-redis"  # noqa: S105 - a Secret's name: per-namespace copy for tasks
    # A Redis user per workflow for its task pods (store/tenancy.py); off: every task pod uses
    # the operator's password (a managed Redis without ACL commands).
    redis_task_users: bool = True
    delete_succeeded_jobs: bool = True  # keep etcd small: a succeeded Job's work is in Redis
    succeeded_job_ttl_seconds: int = 30  # ... but keep its logs readable that long (0: delete at once)
    job_ttl_seconds: int = 3600  # failed Jobs stay this long for `kubectl logs`
    deadline_grace_seconds: int = 30  # the Job deadline trails the task's own timeout by this
    # A read-only root filesystem and a private emptyDir at /tmp for task containers. Off: no
    # volume at all, so the kubelet skips its volume wait (it polls every 300 ms): a pod starts
    # ~0.3 s sooner.
    task_read_only_root: bool = True
    # Queues (the chart's `queues`): a task's `options.queue` names one, whose options go
    # under the task's own (queues.py). Read from KUBECANVAS_QUEUES, a JSON mapping.
    queues: Mapping[str, JSONObject] = field(default_factory=dict)
    # A task pod the scheduler cannot place for this long fails its attempt with the reason.
    unschedulable_timeout_seconds: float = 300.0
    # Warm runners (operator/runners.py): a pool has at most this many runners, and a runner
    # with no work for this long exits (the pool scales to zero).
    runners_per_pool: int = 4
    runner_idle_seconds: float = 60.0
    status_interval: float = 0.5  # at most one status write per workflow per interval
    # Every running workflow is looked at again this often (news lost in an outage, a watch gap).
    reconcile_interval: float = 30.0
    # Empty: all namespaces. Names or glob patterns (`team-*`), as kopf's --namespace takes them.
    watch_namespaces: tuple[str, ...] = ()
    api_concurrency: int = 16

    def watches(self, namespace: str | None) -> bool:
        """Whether a namespace is this operator's to serve: the one rule, for every caller."""
        if not self.watch_namespaces:
            return True
        return namespace is not None and any(fnmatch.fnmatchcase(namespace, p) for p in self.watch_namespaces)

    @property
    def listable_namespaces(self) -> tuple[str, ...]:
        """The namespaces to list one by one; empty (list cluster-wide, then filter with
        `watches`) when watching all of them or any pattern."""
        if any(set(pattern) & set("*?[") for pattern in self.watch_namespaces):
            return ()
        return self.watch_namespaces

    @property
    def redis_url_for_tasks(self) -> str:
        return self.task_redis_url or self.redis_url

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> OperatorConfig:
        def get(name: str, default: str | None = None) -> str | None:
            value = environ.get(f"KUBECANVAS_{name}")
            return value if value not in (None, "") else default

        def flag(name: str, default: bool) -> bool:
            value = get(name)
            if value is None:
                return default
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigurationError(f"KUBECANVAS_{name} must be true or false, not {value!r}")

        def number(name: str, default: float) -> float:
            value = get(name)
            try:
                return float(value) if value is not None else default
            except ValueError:
                raise ConfigurationError(f"KUBECANVAS_{name} must be a number, not {value!r}") from None

        command = get("RUNTIME_COMMAND")
        if command is not None:
            try:
                parsed = json.loads(command)
            except json.JSONDecodeError:
                parsed = command.split()
            if (
                not isinstance(parsed, list)
                or not all(isinstance(part, str) for part in parsed)
                or not parsed
            ):
                raise ConfigurationError("KUBECANVAS_RUNTIME_COMMAND must be a JSON list of strings")
        defaults = cls()
        namespaces = tuple(filter(None, (get("WATCH_NAMESPACES") or "").replace(",", " ").split()))
        redis_url = get("REDIS_URL", defaults.redis_url) or defaults.redis_url
        return cls(
            redis_url=redis_url,
            redis_password=get("REDIS_PASSWORD"),
            redis_ca=get("REDIS_CA") or _ca_of(redis_url),
            task_redis_url=get("TASK_REDIS_URL"),
            events_stream=get("EVENTS_STREAM", defaults.events_stream) or defaults.events_stream,
            consumer_group=get("CONSUMER_GROUP", defaults.consumer_group) or defaults.consumer_group,
            runtime_image=get("RUNTIME_IMAGE", defaults.runtime_image) or defaults.runtime_image,
            runtime_command=tuple(parsed) if command is not None else defaults.runtime_command,
            image_pull_policy=get("IMAGE_PULL_POLICY"),
            task_service_account=get("TASK_SERVICE_ACCOUNT", defaults.task_service_account),
            manage_task_identity=flag("MANAGE_TASK_IDENTITY", defaults.manage_task_identity),
            redis_secret_name=get("REDIS_SECRET_NAME", defaults.redis_secret_name)
            or defaults.redis_secret_name,
            redis_task_users=flag("REDIS_TASK_USERS", defaults.redis_task_users),
            delete_succeeded_jobs=flag("DELETE_SUCCEEDED_JOBS", defaults.delete_succeeded_jobs),
            succeeded_job_ttl_seconds=int(
                number("SUCCEEDED_JOB_TTL_SECONDS", defaults.succeeded_job_ttl_seconds)
            ),
            job_ttl_seconds=int(number("JOB_TTL_SECONDS", defaults.job_ttl_seconds)),
            deadline_grace_seconds=int(number("DEADLINE_GRACE_SECONDS", defaults.deadline_grace_seconds)),
            task_read_only_root=flag("TASK_READ_ONLY_ROOT", defaults.task_read_only_root),
            queues=parse_queues(get("QUEUES")),
            unschedulable_timeout_seconds=number(
                "UNSCHEDULABLE_TIMEOUT_SECONDS", defaults.unschedulable_timeout_seconds
            ),
            runners_per_pool=max(1, int(number("RUNNERS_PER_POOL", defaults.runners_per_pool))),
            runner_idle_seconds=number("RUNNER_IDLE_SECONDS", defaults.runner_idle_seconds),
            status_interval=number("STATUS_INTERVAL", defaults.status_interval),
            reconcile_interval=number("RECONCILE_INTERVAL", defaults.reconcile_interval),
            watch_namespaces=namespaces,
            api_concurrency=int(number("API_CONCURRENCY", defaults.api_concurrency)),
        )


def _ca_of(url: str) -> str | None:
    """The CA file a Redis URL names (`?ssl_ca_certs=`), read: task pods get it as PEM."""
    from kubecanvas.store.wire import Address

    try:
        path = Address.from_url(url).ca_file
    except ValueError as error:
        raise ConfigurationError(f"KUBECANVAS_REDIS_URL: {error}") from None
    if path is None:
        return None
    try:
        with open(path) as file:
            return file.read()
    except OSError as error:
        raise ConfigurationError(
            f"KUBECANVAS_REDIS_URL names a CA file that cannot be read: {error}"
        ) from None
