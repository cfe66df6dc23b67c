"""A Workflow cannot do what its author could not: what it makes the operator do on the
author's behalf, checked against the author's own rights at admission.

The operator creates Jobs with rights many Workflow authors lack — a confused deputy. So
the webhook lists what a Workflow would have the operator do in its namespace
(`needed_access`: create its Jobs; read each Secret and ConfigMap its tasks' environment or
its code source names) and asks the API server whether the *requesting user* may do each
(a SubjectAccessReview per access). A Workflow is refused with the missing permissions
named. Using a service account (`serviceAccountName`) needs no more than creating Jobs, as
in Kubernetes itself: whoever may create a Job may name any service account of its
namespace.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Access", "AccessReviewer", "missing_access", "needed_access"]


@dataclass(frozen=True, slots=True)
class Access:
    """One thing the operator would do in the Workflow's namespace, and the field that asks."""

    verb: str
    resource: str
    group: str = ""
    name: str | None = None
    because: str = ""

    def describe(self, namespace: str) -> str:
        resource = f"{self.resource}.{self.group}" if self.group else self.resource
        target = f"{resource} {self.name!r}" if self.name else resource
        because = f" (for {self.because})" if self.because else ""
        return f"{self.verb} {target} in namespace {namespace}{because}"


class AccessReviewer(Protocol):
    """Asks the API server whether a user may do something (kube.KubeApi.review_access)."""

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
        """(allowed, the authorizer's reason)."""
        ...


def needed_access(spec: Mapping[str, Any], path: str = "spec") -> list[Access]:
    """What the operator would do for a Workflow with this (valid) spec, in its namespace;
    `path` is where the spec sits in its object (a CronWorkflow's `spec.workflowSpec`)."""
    needed = [Access("create", "jobs", "batch", because="every task runs as a Job")]
    code = spec.get("code")
    if isinstance(code, Mapping) and isinstance(code.get("configMap"), Mapping):
        name = code["configMap"].get("name")
        if isinstance(name, str):
            needed.append(Access("get", "configmaps", name=name, because=f"{path}.code.configMap"))
    for where, value_from in _values_from(spec, path):
        for key, resource in (("secretKeyRef", "secrets"), ("configMapKeyRef", "configmaps")):
            ref = value_from.get(key)
            if isinstance(ref, Mapping) and isinstance(ref.get("name"), str):
                needed.append(Access("get", resource, name=ref["name"], because=f"{where}.{key}"))
    unique: dict[tuple[str, str, str, str | None], Access] = {}
    for access in needed:
        unique.setdefault((access.verb, access.group, access.resource, access.name), access)
    return list(unique.values())


async def missing_access(
    reviewer: AccessReviewer, user: Mapping[str, Any], namespace: str, needed: Sequence[Access]
) -> list[str]:
    """What `user` (an admission request's `userInfo`: username, uid, groups, extra) may not
    do of `needed`, described; empty when they may do it all."""
    missing = []
    for access in needed:
        allowed, reason = await reviewer.review_access(
            user, namespace, verb=access.verb, group=access.group, resource=access.resource, name=access.name
        )
        if not allowed:
            missing.append(access.describe(namespace) + (f": {reason}" if reason else ""))
    return missing


def _values_from(value: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every `valueFrom` of an `env` entry in the spec, with its field path (no recursion:
    a deeply nested canvas must not crash the webhook)."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, Mapping):
            for key, inner in item.items():
                if key == "valueFrom" and isinstance(inner, Mapping):
                    yield f"{where}.{key}", inner
                else:
                    stack.append((f"{where}.{key}", inner))
        elif isinstance(item, list):
            stack.extend((f"{where}[{index}]", inner) for index, inner in enumerate(item))
