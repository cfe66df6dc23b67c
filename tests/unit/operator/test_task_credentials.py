"""How a workflow's task pods get into Redis: their own Redis user (a real redis-server),
the Secret with its password in their namespace (a fake API), and the Job's environment."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kubecanvas.graph.nodes import TaskNode
from kubecanvas.resources import WORKFLOW, task_secret_name
from kubecanvas.store.hostside import WorkflowStore, connect_async
from kubecanvas.store.tenancy import task_password, task_user
from kubecanvas_operator.clients import RedisCredentials
from kubecanvas_operator.config import OperatorConfig
from kubecanvas_operator.jobs import WorkflowIdentity, build_job
from kubecanvas_operator.provisioning import NamespaceProvisioner
from support.redis import redis_server

PASSWORD = "operator-s3cret"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis"), password=PASSWORD) as (url, _):
        yield url


class FakeApi:
    """The two calls the provisioner makes: create-unless-exists, on the core API's Secrets."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.creates = 0
        self.core = self
        self.rbac = self

    def create_namespaced_secret(self, namespace: str, body: dict[str, Any]) -> None:
        self.creates += 1
        self.secrets.setdefault((namespace, body["metadata"]["name"]), body)

    async def ensure(self, create: Any, namespace: str, body: dict[str, Any]) -> None:
        create(namespace, body)


def users(redis_url: str) -> list[str]:
    async def main() -> list[str]:
        client = connect_async(redis_url)
        try:
            return [str(user) for user in await client.execute_command("ACL", "USERS")]
        finally:
            await client.aclose()

    return asyncio.run(main())


def provisioned(redis_url: str, config: OperatorConfig, *calls: str) -> tuple[FakeApi, list[Any]]:
    """Run `credentials` (or `release`, for "release:<uid>") calls in order on one provisioner."""
    api = FakeApi()

    async def main() -> list[Any]:
        store = WorkflowStore(connect_async(redis_url))
        provisioner = NamespaceProvisioner(api, config, store)  # type: ignore[arg-type]
        try:
            results = []
            for call in calls:
                if call.startswith("release:"):
                    results.append(await provisioner.release(call.removeprefix("release:")))
                else:
                    results.append(await provisioner.credentials("team-a", "wf", call))
            return results
        finally:
            await store.client.aclose()

    return api, asyncio.run(main())


def test_each_workflow_gets_its_own_redis_user_and_a_secret_owned_by_it(redis_url: str) -> None:
    uid = f"uid-{time.time_ns()}"
    api, (first, again) = provisioned(redis_url, OperatorConfig(redis_password=PASSWORD), uid, uid)
    assert first == again == RedisCredentials(task_secret_name(uid), task_user(uid))
    assert task_user(uid) in users(redis_url)
    secret = api.secrets[("team-a", task_secret_name(uid))]
    password = base64.b64decode(secret["data"]["password"]).decode()
    assert password == task_password(PASSWORD.encode(), uid)
    assert secret["metadata"]["ownerReferences"] == [WORKFLOW.owner_reference("wf", uid)]
    assert api.creates == 1  # the Secret once; the Redis user every time (a restart loses it)


def test_a_redis_user_lost_in_a_restart_is_granted_again_and_released_at_the_end(redis_url: str) -> None:
    uid = f"uid-{time.time_ns()}"
    provisioned(redis_url, OperatorConfig(redis_password=PASSWORD), uid)

    async def forget_users() -> None:  # what a Redis restart without an ACL file does
        client = connect_async(redis_url)
        try:
            await client.execute_command("ACL", "DELUSER", task_user(uid))
        finally:
            await client.aclose()

    asyncio.run(forget_users())
    assert task_user(uid) not in users(redis_url)
    provisioned(redis_url, OperatorConfig(redis_password=PASSWORD), uid)
    assert task_user(uid) in users(redis_url)
    provisioned(redis_url, OperatorConfig(redis_password=PASSWORD), f"release:{uid}")
    assert task_user(uid) not in users(redis_url)


def test_without_a_redis_password_or_with_task_users_off(redis_url: str) -> None:
    uid = f"uid-{time.time_ns()}"
    _, (none,) = provisioned(redis_url, OperatorConfig(), uid)
    assert none is None
    shared = OperatorConfig(redis_password=PASSWORD, redis_task_users=False)
    _, (copy,) = provisioned(redis_url, shared, uid)
    assert copy == RedisCredentials(shared.redis_secret_name)
    assert task_user(uid) not in users(redis_url)


def test_the_job_authenticates_as_the_workflows_user() -> None:
    identity = WorkflowIdentity("wf", "team-a", "uid-1")
    node = TaskNode(id="t0", index=0, task="m.add")
    credentials = RedisCredentials(task_secret_name("uid-1"), task_user("uid-1"))
    job = build_job(identity, node, 1, OperatorConfig(), redis=credentials)
    env = {item["name"]: item for item in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["KUBECANVAS_REDIS_USERNAME"]["value"] == "kc-task-uid-1"
    assert env["KUBECANVAS_REDIS_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "kubecanvas-task-uid-1", "key": "password"}
    }


class IdentityApi(FakeApi):
    """Also the task identity's calls; `wipe()` is the namespace deleted and created again."""

    def __init__(self) -> None:
        super().__init__()
        self.accounts: set[tuple[str, str]] = set()

    def create_namespaced_service_account(self, namespace: str, body: dict[str, Any]) -> None:
        self.creates += 1
        self.accounts.add((namespace, body["metadata"]["name"]))

    def wipe(self, namespace: str) -> None:
        self.accounts = {account for account in self.accounts if account[0] != namespace}


def test_a_namespace_is_checked_again_once_forgotten() -> None:
    """Launches pay nothing once a namespace is ready; a new workflow makes the operator look
    again (the conductor forgets its namespace), so a namespace deleted and created again gets
    its task ServiceAccount back before its first Job."""
    api = IdentityApi()
    config = OperatorConfig(
        runtime_image="r:1", manage_task_identity=True, task_service_account="kubecanvas-task"
    )
    provisioner = NamespaceProvisioner(api, config, None)  # type: ignore[arg-type]

    async def main() -> None:
        await provisioner.prepare("team")
        await provisioner.prepare("team")
        assert (api.creates, api.accounts) == (1, {("team", "kubecanvas-task")})
        api.wipe("team")
        await provisioner.prepare("team")
        assert api.accounts == set()  # remembered: a launch does not look
        provisioner.forget("team")
        await provisioner.prepare("team")
        assert api.accounts == {("team", "kubecanvas-task")}

    asyncio.run(main())
