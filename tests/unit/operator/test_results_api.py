"""The results API believes no one by default (operator/callers.py, resultsapi.py): who may
read a workflow's state, decided with fakes of the API server's reviews here; the real API
server, its aggregation layer and a hostile pod in tests/chart/test_chart_cluster.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict

from kubecanvas.canvas.offload import UPLOAD_TTL_SECONDS, CanvasRef, stored_text
from kubecanvas.errors import KubeApiError
from kubecanvas_operator.callers import TOKEN_TTL, Caller, CallerCheck, RequestHeaders
from kubecanvas_operator.config import OperatorConfig
from kubecanvas_operator.resultsapi import build_results_app

ALICE = {"username": "alice", "uid": "a1", "groups": ["team", "system:authenticated"]}


class ApiServer:
    """The API server's reviews: tokens it knows, (user, namespace, name) allowed `get` on a
    Workflow, and (user, namespace) allowed `create` there."""

    def __init__(
        self,
        tokens: dict[str, dict[str, Any]],
        allowed: set[tuple[str, str, str]],
        creators: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self.tokens, self.allowed, self.creators = tokens, allowed, creators
        self.token_reviews = 0
        self.access_asked: list[tuple[Mapping[str, Any], str, str, str, str | None]] = []
        self.workflows: dict[tuple[str, str], dict[str, Any]] = {}
        self.down = False

    async def review_token(self, token: str) -> Mapping[str, Any] | None:
        self.token_reviews += 1
        if self.down:
            raise KubeApiError(0, "cannot reach the Kubernetes API")
        return self.tokens.get(token)

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
        self.access_asked.append((user, namespace, f"{verb} {resource}.{group}", group, name))
        if (resource, group) != ("workflows", "kubecanvas.io"):
            return False, "RBAC: no"
        if verb == "create":
            return (user["username"], namespace) in self.creators, "RBAC: no"
        return verb == "get" and (user["username"], namespace, name or "") in self.allowed, "RBAC: no"

    async def get_workflow(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.workflows.get((namespace, name))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def values(headers: CIMultiDict[str]) -> Any:
    return headers.getall


def test_no_credentials_no_caller() -> None:
    check = CallerCheck(ApiServer({}, set()), ApiServer({}, set()), None)
    assert asyncio.run(check.authenticate(CIMultiDict(), lambda _: [], None)) is None


def test_a_bearer_token_is_reviewed_once_per_ttl() -> None:
    server, clock = ApiServer({"good": ALICE}, set()), Clock()
    check = CallerCheck(server, server, None, clock=clock)
    headers = CIMultiDict({"Authorization": "Bearer good"})

    async def twice() -> list[Caller | None]:
        return [await check.authenticate(headers, values(headers), None) for _ in range(2)]

    first, second = asyncio.run(twice())
    assert first == second == Caller("alice", ("team", "system:authenticated"), "a1")
    assert server.token_reviews == 1
    clock.now += TOKEN_TTL
    asyncio.run(check.authenticate(headers, values(headers), None))
    assert server.token_reviews == 2


def test_an_unknown_token_is_no_caller_and_an_unreachable_reviewer_is_an_error() -> None:
    server = ApiServer({"good": ALICE}, set())
    check = CallerCheck(server, server, None)
    bad = CIMultiDict({"Authorization": "Bearer forged"})
    assert asyncio.run(check.authenticate(bad, values(bad), None)) is None
    server.down = True
    good = CIMultiDict({"Authorization": "Bearer good"})
    with pytest.raises(KubeApiError):
        asyncio.run(check.authenticate(good, values(good), None))
    server.down = False  # an error is not remembered as "no caller"
    assert asyncio.run(check.authenticate(good, values(good), None)) is not None


VOUCHED = RequestHeaders.from_configmap(
    {
        "requestheader-client-ca-file": "PEM",
        "requestheader-allowed-names": '["front-proxy-client"]',
        "requestheader-username-headers": '["X-Remote-User"]',
        "requestheader-group-headers": '["X-Remote-Group"]',
        "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]',
    }
)


def test_the_api_servers_word_is_believed_only_from_its_certificate() -> None:
    assert VOUCHED is not None
    assert VOUCHED.allowed_names == {"front-proxy-client"}
    check = CallerCheck(ApiServer({}, set()), ApiServer({}, set()), VOUCHED)
    headers: CIMultiDict[str] = CIMultiDict(
        [
            ("X-Remote-User", "bob"),
            ("X-Remote-Group", "devs"),
            ("X-Remote-Group", "ops"),
            ("X-Remote-Extra-Scopes", "x"),
        ]
    )
    caller = asyncio.run(check.authenticate(headers, values(headers), "front-proxy-client"))
    assert caller == Caller("bob", ("devs", "ops"), extra={"scopes": ("x",)})
    # The aggregation layer's own calls (discovery, OpenAPI) name a user with no group header.
    alone: CIMultiDict[str] = CIMultiDict([("X-Remote-User", "system:kube-aggregator")])
    caller = asyncio.run(check.authenticate(alone, values(alone), "front-proxy-client"))
    assert caller == Caller("system:kube-aggregator")
    # The same headers from anyone else (no client certificate, or another name) mean nothing.
    assert asyncio.run(check.authenticate(headers, values(headers), None)) is None
    assert asyncio.run(check.authenticate(headers, values(headers), "kubecanvas-admin")) is None


def test_no_aggregation_layer_no_request_headers() -> None:
    assert RequestHeaders.from_configmap({"client-ca-file": "PEM"}) is None


# --------------------------------------------------------------------- the HTTP surface


class Store:
    async def load(self, uid: str) -> None:
        return None  # no state in Redis: the document says what the status says


def serve(server: ApiServer) -> TestClient[Any, Any]:
    config = OperatorConfig.from_environ({"KUBECANVAS_REDIS_URL": "redis://x"})
    callers = CallerCheck(server, server, VOUCHED)
    app = build_results_app(server, Store(), config, callers)  # type: ignore[arg-type]
    return TestClient(TestServer(app))


WORKFLOW = {
    "metadata": {"name": "wf", "namespace": "team", "uid": "u1"},
    "status": {"phase": "Succeeded", "result": 4},
}
PATH = "/apis/results.kubecanvas.io/v1alpha1/namespaces/team/workflowresults/wf"


def ask(server: ApiServer, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    async def go() -> tuple[int, Any]:
        async with serve(server) as client:
            response = await client.get(path, headers=headers)
            return response.status, json.loads(await response.text())

    return asyncio.run(go())


def test_reads_answer_401_403_or_the_workflow_result() -> None:
    server = ApiServer({"alice": ALICE, "eve": {"username": "eve"}}, {("alice", "team", "wf")})
    server.workflows[("team", "wf")] = WORKFLOW
    status, body = ask(server, PATH, {})
    assert (status, body["kind"], body["reason"]) == (401, "Status", "Unauthorized")
    # Headers that claim a user, without the API server's certificate: still no one.
    status, body = ask(server, PATH, {"X-Remote-User": "alice", "X-Remote-Group": "system:masters"})
    assert status == 401
    status, body = ask(server, PATH, {"Authorization": "Bearer eve"})
    assert (status, body["reason"]) == (403, "Forbidden")
    assert 'user "eve" cannot get workflow "wf" in namespace "team"' in body["message"]
    status, body = ask(server, PATH, {"Authorization": "Bearer alice"})
    assert status == 200
    assert (body["apiVersion"], body["kind"], body["metadata"]["name"]) == (
        "results.kubecanvas.io/v1alpha1",
        "WorkflowResult",
        "wf",
    )
    assert (body["phase"], body["result"]) == ("Succeeded", 4)
    assert server.access_asked[-1][1:] == ("team", "get workflows.kubecanvas.io", "kubecanvas.io", "wf")


def test_a_missing_workflow_is_not_found_only_for_who_may_read_it() -> None:
    server = ApiServer({"alice": ALICE}, {("alice", "team", "wf")})
    status, body = ask(server, PATH, {"Authorization": "Bearer alice"})
    assert (status, body["reason"]) == (404, "NotFound")
    other = PATH.replace("/wf", "/secret-project")
    status, _ = ask(server, other, {"Authorization": "Bearer alice"})
    assert status == 403  # not 404: who may not read it does not learn whether it exists


def test_discovery_for_any_authenticated_caller() -> None:
    server = ApiServer({"alice": ALICE}, set())
    status, body = ask(server, "/apis/results.kubecanvas.io/v1alpha1", {"Authorization": "Bearer alice"})
    assert status == 200
    assert body["kind"] == "APIResourceList"
    verbs = {resource["name"]: resource["verbs"] for resource in body["resources"]}
    assert verbs == {"workflowresults": ["get"], "workflowcanvases": ["create"]}
    assert ask(server, "/apis/results.kubecanvas.io/v1alpha1", {})[0] == 401


# ------------------------------------------------------ uploads of a large spec's canvas

UPLOAD = "/apis/results.kubecanvas.io/v1alpha1/namespaces/team/workflowcanvases"


class Uploads(Store):
    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], tuple[str, int]] = {}

    async def put_upload(self, namespace: str, sha256: str, text: str, ttl: int) -> None:
        self.kept[(namespace, sha256)] = (text, ttl)


def upload(server: ApiServer, store: Uploads, body: bytes, token: str) -> tuple[int, Any]:
    async def go() -> tuple[int, Any]:
        config = OperatorConfig.from_environ({"KUBECANVAS_REDIS_URL": "redis://x"})
        app = build_results_app(server, store, config, CallerCheck(server, server, VOUCHED))  # type: ignore[arg-type]
        async with TestClient(TestServer(app)) as client:
            response = await client.post(UPLOAD, data=body, headers={"Authorization": f"Bearer {token}"})
            return response.status, json.loads(await response.text())

    return asyncio.run(go())


def test_an_upload_is_kept_under_its_digest_for_who_may_create_workflows_there() -> None:
    server = ApiServer({"alice": ALICE, "eve": {"username": "eve"}}, set(), frozenset({("alice", "team")}))
    store = Uploads()
    part = {"canvas": {"map": {"task": "m.f", "items": list(range(300_000))}}, "args": [1]}
    sent = {"apiVersion": "results.kubecanvas.io/v1alpha1", "kind": "WorkflowCanvas", **part}
    status, body = upload(server, store, json.dumps(sent).encode(), "eve")
    assert (status, body["reason"]) == (403, "Forbidden")
    assert 'user "eve" cannot create workflows in namespace "team"' in body["message"]
    assert store.kept == {}

    status, body = upload(server, store, json.dumps(sent).encode(), "alice")  # ~2 MB: over aiohttp's 1 MiB
    text = stored_text(part)
    ref = CanvasRef.of(text)
    assert status == 201
    assert (body["kind"], body["sha256"], body["bytes"]) == ("WorkflowCanvas", ref.sha256, ref.bytes)
    assert store.kept == {("team", ref.sha256): (text, UPLOAD_TTL_SECONDS)}
    assert server.access_asked[-1][1:] == ("team", "create workflows.kubecanvas.io", "kubecanvas.io", None)


def test_an_upload_that_is_not_a_canvas_is_refused_saying_why() -> None:
    server, store = ApiServer({"alice": ALICE}, set(), frozenset({("alice", "team")})), Uploads()
    cases = {
        b"[1]": "must be a JSON object",
        b'{"canvas": {"task": "m.f"}, "code": {"path": "/"}}': "unknown fields ['code']",
        b'{"args": [1]}': "canvas: required, a mapping",
        b'{"canvas": {"task": "m.f"}, "kwargs": [1]}': "kwargs: must be a mapping",
    }
    for sent, why in cases.items():
        status, body = upload(server, store, sent, "alice")
        assert (status, body["reason"]) == (422, "Invalid"), sent
        assert why in body["message"], body["message"]
    assert upload(server, store, b"{not json", "alice")[0] == 400
    assert store.kept == {}
