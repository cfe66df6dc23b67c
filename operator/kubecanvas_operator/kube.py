"""The operator's Kubernetes calls, async, on top of the `kubernetes` client.

Each call is `kubecanvas.client.kube_calls.call_json` — the CLI's path too: plain JSON, one
`KubeApiError` for every failure, status 0 when the API server was not reached — run in a
bounded thread pool (the client is synchronous) with a connection pool to match.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from kubernetes import client

from kubecanvas.client.credentials import kube_configuration
from kubecanvas.client.kube_calls import call_json
from kubecanvas.errors import KubeApiError
from kubecanvas.resources import CRON_WORKFLOW, GROUP, VERSION, WORKFLOW, WORKFLOW_UID_LABEL

__all__ = ["KubeApi"]


T = TypeVar("T")

_LIST_PAGE = 500  # items per page of a listing (the API server's continue tokens for the rest)


def load_client_configuration(concurrency: int) -> client.Configuration:
    """Credentials by the one rule (kubecanvas.client.credentials), a pool for `concurrency`."""
    configuration = kube_configuration()
    configuration.connection_pool_maxsize = concurrency * 2
    return configuration


class KubeApi:
    def __init__(
        self,
        concurrency: int = 16,
        configuration: client.Configuration | None = None,
        counted: Callable[[str], None] | None = None,
    ) -> None:
        """`counted`, if given, hears the client method's name of every call sent (the
        operator's metrics count API calls per task with it)."""
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="kube-api")
        self._counted = counted
        api_client = client.ApiClient(configuration or load_client_configuration(concurrency))
        self.batch = client.BatchV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.rbac = client.RbacAuthorizationV1Api(api_client)
        self.coordination = client.CoordinationV1Api(api_client)
        self.authorization = client.AuthorizationV1Api(api_client)
        self.authentication = client.AuthenticationV1Api(api_client)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one client call in the pool and return its JSON body (or None on 404)."""
        loop = asyncio.get_running_loop()
        if self._counted is not None:
            self._counted(function.__name__)
        try:
            return await loop.run_in_executor(
                self._executor, functools.partial(call_json, function, *args, **kwargs)
            )
        except RuntimeError as error:
            if "after shutdown" not in str(error):
                raise
            # The operator is stopping (close()): what was not sent, its successor does again.
            raise KubeApiError(0, "the operator is stopping: the call was not sent") from None

    # ------------------------------------------------------------- jobs and pods

    async def create_job(self, manifest: dict[str, Any]) -> bool:
        """Create a Job; False when it already exists (creating twice is harmless)."""
        try:
            await self._call(self.batch.create_namespaced_job, manifest["metadata"]["namespace"], manifest)
        except KubeApiError as error:
            if error.status == 409:
                return False
            raise
        return True

    async def workflow_jobs(self, namespace: str, uid: str) -> dict[str, dict[str, Any]]:
        jobs: dict[str, dict[str, Any]] = {}
        page: str | None = None
        while True:
            listed = await self._call(
                self.batch.list_namespaced_job,
                namespace,
                label_selector=f"{WORKFLOW_UID_LABEL}={uid}",
                limit=_LIST_PAGE,
                **({"_continue": page} if page else {}),
            )
            for job in (listed or {}).get("items") or []:
                jobs[job["metadata"]["name"]] = job
            page = ((listed or {}).get("metadata") or {}).get("continue")
            if not page:
                return jobs

    async def expire_job(self, namespace: str, name: str, seconds: int) -> None:
        """Let the TTL controller delete a finished Job (and its pods) `seconds` from now."""
        patch = {"spec": {"ttlSecondsAfterFinished": seconds}}
        await self._call(self.batch.patch_namespaced_job, name, namespace, patch)

    async def delete_job(self, namespace: str, name: str) -> None:
        """Delete a Job and, in the background, its pods (their processes get SIGTERM)."""
        body = client.V1DeleteOptions(propagation_policy="Background")
        await self._call(self.batch.delete_namespaced_job, name, namespace, body=body)

    async def job_pods(self, namespace: str, job: str) -> list[dict[str, Any]]:
        listed = await self._call(self.core.list_namespaced_pod, namespace, label_selector=f"job-name={job}")
        return list((listed or {}).get("items") or [])

    # ------------------------------------------------------------- workflows

    async def get_workflow(self, namespace: str, name: str) -> dict[str, Any] | None:
        body: dict[str, Any] | None = await self._call(
            self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, WORKFLOW.plural, name
        )
        return body

    async def list_workflow_uids(self, namespaces: tuple[str, ...] = ()) -> set[str]:
        """Uids of every Workflow, cluster-wide or in the given namespaces (a namespaced
        operator may not list cluster-wide)."""
        if namespaces:
            listings = [
                await self._call(
                    self.custom.list_namespaced_custom_object, GROUP, VERSION, namespace, WORKFLOW.plural
                )
                for namespace in namespaces
            ]
        else:
            listings = [
                await self._call(self.custom.list_cluster_custom_object, GROUP, VERSION, WORKFLOW.plural)
            ]
        return {item["metadata"]["uid"] for listed in listings for item in (listed or {}).get("items") or []}

    async def patch_workflow_status(self, namespace: str, name: str, status: dict[str, Any]) -> bool:
        """Merge `status` into the Workflow's status; False if the Workflow is gone."""
        patched = await self._call(
            self.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            WORKFLOW.plural,
            name,
            {"status": status},
        )
        return patched is not None

    async def delete_workflow(self, namespace: str, name: str, uid: str) -> None:
        body = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))
        await self._call(
            self.custom.delete_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            WORKFLOW.plural,
            name,
            body=body,
        )

    async def list_workflows(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        listed = await self._call(
            self.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            WORKFLOW.plural,
            label_selector=label_selector,
        )
        return list((listed or {}).get("items") or [])

    async def create_workflow(self, body: dict[str, Any]) -> bool:
        """Create a Workflow; False when one of that name already exists."""
        try:
            await self._call(
                self.custom.create_namespaced_custom_object,
                GROUP,
                VERSION,
                body["metadata"]["namespace"],
                WORKFLOW.plural,
                body,
            )
        except KubeApiError as error:
            if error.status == 409:
                return False
            raise
        return True

    async def patch_workflow(self, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        """Merge `patch` into the Workflow; False if it is gone."""
        patched = await self._call(
            self.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            WORKFLOW.plural,
            name,
            patch,
        )
        return patched is not None

    # ------------------------------------------------------------- cron workflows

    async def get_cronworkflow(self, namespace: str, name: str) -> dict[str, Any] | None:
        body: dict[str, Any] | None = await self._call(
            self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, CRON_WORKFLOW.plural, name
        )
        return body

    async def patch_cronworkflow_status(self, namespace: str, name: str, status: dict[str, Any]) -> bool:
        """Merge `status` into the CronWorkflow's status; False if it is gone."""
        patched = await self._call(
            self.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            CRON_WORKFLOW.plural,
            name,
            {"status": status},
        )
        return patched is not None

    # ------------------------------------------------------------- task identity

    async def patch_event(self, namespace: str, name: str, changes: dict[str, Any]) -> None:
        await self._call(self.core.patch_namespaced_event, name, namespace, changes)

    async def patch_secret_data(self, namespace: str, name: str, data: dict[str, str]) -> None:
        await self._call(self.core.patch_namespaced_secret, name, namespace, {"data": data})

    # ------------------------------------------------------------- access reviews (authority.py)

    async def review_access(
        self,
        user: Mapping[str, Any],
        namespace: str,
        *,
        verb: str,
        group: str,
        resource: str,
        name: str | None,
    ) -> tuple[bool, str]:
        """Whether `user` (an admission request's userInfo) may do this: a SubjectAccessReview."""
        attributes = {"namespace": namespace, "verb": verb, "group": group, "resource": resource}
        if name:
            attributes["name"] = name
        spec: dict[str, Any] = {
            "user": user.get("username") or "",
            "groups": list(user.get("groups") or []),
            "resourceAttributes": attributes,
        }
        if user.get("uid"):
            spec["uid"] = user["uid"]
        if user.get("extra"):
            spec["extra"] = dict(user["extra"])
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        reply = await self._call(self.authorization.create_subject_access_review, body)
        status = (reply or {}).get("status") or {}
        return bool(status.get("allowed")), str(status.get("reason") or status.get("evaluationError") or "")

    async def review_token(self, token: str) -> dict[str, Any] | None:
        """The userInfo of the user a bearer token belongs to, None if it is not accepted (a
        TokenReview, audiences left to the API server's own)."""
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        reply = await self._call(self.authentication.create_token_review, body)
        status = (reply or {}).get("status") or {}
        user: dict[str, Any] | None = status.get("user") if status.get("authenticated") else None
        return user

    async def get_configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        """A ConfigMap's data, None if it does not exist."""
        body = await self._call(self.core.read_namespaced_config_map, name, namespace)
        return None if body is None else dict(body.get("data") or {})

    async def whoami(self) -> str:
        """The user this operator acts as, as the API server names it (a SelfSubjectReview)."""
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        reply = await self._call(self.authentication.create_self_subject_review, body)
        return str((((reply or {}).get("status") or {}).get("userInfo") or {}).get("username") or "")

    # ------------------------------------------------------------- leases (leadership.py)

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        read = self.coordination.read_namespaced_lease
        lease: dict[str, Any] | None = await self._call(read, name, namespace)
        return lease

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> None:
        await self._call(self.coordination.create_namespaced_lease, namespace, body)

    async def replace_lease(self, namespace: str, name: str, lease: dict[str, Any]) -> None:
        """Optimistic: fails with 409 unless the lease's resourceVersion is still current."""
        await self._call(self.coordination.replace_namespaced_lease, name, namespace, lease)

    async def ensure(self, create: Callable[..., Any], namespace: str, body: dict[str, Any]) -> None:
        """Create an object unless it exists (used for per-namespace task identity)."""
        try:
            await self._call(create, namespace, body)
        except KubeApiError as error:
            if error.status != 409:
                raise
