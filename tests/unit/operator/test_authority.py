"""What a Workflow makes the operator do on its author's behalf, and the webhook's refusal
of what the author may not do (operator/authority.py, webhook.py); the API server's answers
come from a fake reviewer here and from the real one in tests/e2e/test_cronworkflows.py."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import kopf
import pytest

from kubecanvas.canvas.offload import CanvasRef, split
from kubecanvas.errors import KubeApiError
from kubecanvas_operator.authority import Access, needed_access
from kubecanvas_operator.config import OperatorConfig
from kubecanvas_operator.memo import OperatorMemo
from kubecanvas_operator.webhook import validate, validate_cronworkflow

SECRET_ENV = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "powerful", "key": "token"}}}]
SPEC: dict[str, Any] = {
    "canvas": {
        "chain": [
            {"task": "m.add", "args": [1, 2], "options": {"env": SECRET_ENV}},
            {"task": "m.mul", "args": [3], "options": {"serviceAccountName": "powerful"}},
        ]
    },
    "code": {"configMap": {"name": "tasks-code"}},
    "defaults": {
        "env": [{"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}}}]
    },
}


class Reviewer:
    """The API server's answers: `allowed` holds (verb, resource, name) the user may do."""

    def __init__(self, allowed: set[tuple[str, str, str | None]], error: KubeApiError | None = None) -> None:
        self.allowed, self.error = allowed, error
        self.asked: list[tuple[str, str, str, str | None]] = []

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
        if self.error is not None:
            raise self.error
        self.asked.append((user["username"], namespace, f"{verb} {resource}", name))
        return (verb, resource, name) in self.allowed, ""


def memo_with(
    reviewer: Reviewer, identity: str = "system:serviceaccount:kubecanvas:operator"
) -> OperatorMemo:
    memo = OperatorMemo(OperatorConfig())
    memo.front = type("Front", (), {"api": reviewer, "identity": identity})()  # type: ignore[assignment]
    return memo


def admit(handler: Any, spec: dict[str, Any], reviewer: Reviewer) -> None:
    asyncio.run(
        handler(
            kopf.Body({"spec": spec}).spec,
            operation="CREATE",
            userinfo={"username": "alice", "uid": "u1", "groups": ["devs"]},
            namespace="team-a",
            memo=memo_with(reviewer),
        )
    )


def test_a_workflow_needs_its_jobs_and_every_secret_and_configmap_it_names() -> None:
    needed = needed_access(SPEC)
    assert needed[0] == Access("create", "jobs", "batch", because="every task runs as a Job")
    assert {(access.verb, access.resource, access.name) for access in needed} == {
        ("create", "jobs", None),
        ("get", "configmaps", "tasks-code"),
        ("get", "secrets", "powerful"),
        ("get", "configmaps", "settings"),
    }
    secret = next(access for access in needed if access.resource == "secrets")
    assert secret.because == "spec.canvas.chain[0].options.env[0].valueFrom.secretKeyRef"


def test_a_deeply_nested_canvas_does_not_crash_the_search() -> None:
    canvas: dict[str, Any] = {"task": "m.add", "options": {"env": SECRET_ENV}}
    for _ in range(5000):
        canvas = {"chain": [canvas]}
    needed = needed_access({"canvas": canvas})
    assert ("get", "secrets", "powerful") in {(a.verb, a.resource, a.name) for a in needed}


def test_an_author_who_may_not_is_refused_with_every_missing_permission_named() -> None:
    reviewer = Reviewer({("create", "jobs", None), ("get", "configmaps", "tasks-code")})
    with pytest.raises(kopf.AdmissionError) as refused:
        admit(validate, SPEC, reviewer)
    message = str(refused.value)
    assert refused.value.code == 403
    assert "this Workflow would have the operator do what alice may not" in message
    assert "get secrets 'powerful' in namespace team-a" in message
    assert "get configmaps 'settings' in namespace team-a (for spec.defaults.env[0]" in message
    assert "create jobs" not in message
    assert {asked[:2] for asked in reviewer.asked} == {("alice", "team-a")}


def test_an_author_who_may_do_it_all_is_admitted() -> None:
    reviewer = Reviewer(
        {
            ("create", "jobs", None),
            ("get", "configmaps", "tasks-code"),
            ("get", "secrets", "powerful"),
            ("get", "configmaps", "settings"),
        }
    )
    admit(validate, SPEC, reviewer)
    assert len(reviewer.asked) == 4


def test_a_cronworkflow_is_held_to_its_template_and_names_its_field_paths() -> None:
    cron = {"schedule": "@hourly", "workflowSpec": SPEC}
    with pytest.raises(kopf.AdmissionError) as refused:
        admit(validate_cronworkflow, cron, Reviewer(set()))
    message = str(refused.value)
    assert "this CronWorkflow would have the operator do what alice may not" in message
    assert "create jobs.batch in namespace team-a" in message
    assert "spec.workflowSpec.canvas.chain[0].options.env[0].valueFrom.secretKeyRef" in message


def test_a_review_that_cannot_be_made_refuses() -> None:
    with pytest.raises(kopf.AdmissionError) as refused:
        admit(validate, SPEC, Reviewer(set(), error=KubeApiError(0, "connection refused")))
    assert refused.value.code == 503
    assert "cannot check the rights of the Workflow's author" in str(refused.value)


def test_an_admitted_workflow_with_a_boolean_key_gets_a_warning() -> None:
    """kubectl prints admission warnings: `kwargs: {y: 1}` arrives as {"true": 1}."""
    answer: list[str] = []
    spec = {"canvas": {"task": "m.echo", "kwargs": {"true": 1}}}
    asyncio.run(
        validate(
            kopf.Body({"spec": spec}).spec,
            operation="CREATE",
            userinfo={"username": "alice"},
            namespace="team-a",
            memo=memo_with(Reviewer({("create", "jobs", None)})),
            warnings=answer,
        )
    )
    assert len(answer) == 1
    assert answer[0].startswith("spec.canvas.kwargs.true: a key named 'true'")


def test_the_operators_own_cron_runs_are_not_checked_again() -> None:
    """A CronWorkflow's author was checked when applying it; its runs are created by the
    operator, which may lack rights (a ConfigMap of code) that the author had."""
    reviewer = Reviewer(set())
    asyncio.run(
        validate(
            kopf.Body({"spec": SPEC}).spec,
            operation="CREATE",
            userinfo={"username": "system:serviceaccount:kubecanvas:operator"},
            namespace="team-a",
            memo=memo_with(reviewer),
        )
    )
    assert reviewer.asked == []


class Uploads:
    """The store's uploads: (namespace, sha256) -> text."""

    def __init__(self, kept: dict[tuple[str, str], str]) -> None:
        self.kept = kept

    async def find_canvas(self, namespace: str, sha256: str, uids: list[str]) -> str | None:
        return self.kept.get((namespace, sha256))


def test_an_uploaded_canvas_is_judged_whole_its_author_too() -> None:
    """A large spec names its canvas (canvas.offload): the webhook joins it before judging,
    so what the canvas asks (a Secret here) is checked as if it were inline."""
    parts = split(SPEC, limit=0)
    assert parts is not None
    spec, text = parts
    reviewer = Reviewer({("create", "jobs", None), ("get", "configmaps", "tasks-code")})
    memo = memo_with(reviewer)
    memo.front.store = Uploads({("team-a", CanvasRef.of(text).sha256): text})  # type: ignore[union-attr]

    def admit_stored(spec: dict[str, Any], namespace: str = "team-a") -> None:
        asyncio.run(
            validate(
                kopf.Body({"spec": spec}).spec,
                operation="CREATE",
                userinfo={"username": "alice", "uid": "u1", "groups": ["devs"]},
                namespace=namespace,
                meta={"name": "big", "namespace": namespace, "uid": "w1"},
                memo=memo,
            )
        )

    with pytest.raises(kopf.AdmissionError) as refused:
        admit_stored(spec)
    assert refused.value.code == 403
    assert "get secrets 'powerful' in namespace team-a (for spec.canvas.chain[0]" in str(refused.value)
    # Uploaded to another namespace: not there for this one.
    with pytest.raises(kopf.AdmissionError) as refused:
        admit_stored(spec, namespace="team-b")
    assert refused.value.code == 422
    assert "spec.canvasRef: no canvas sha256:" in str(refused.value)
    assert "uploaded to namespace 'team-b'" in str(refused.value)
