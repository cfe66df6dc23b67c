"""Who is asking the results API, and whether they may read that Workflow.

The results API (`resultsapi`) answers with a workflow's whole state: its arguments, results and
errors. So it believes no one by default, and it decides as an aggregated API server built
on k8s.io/apiserver does (its DelegatingAuthenticationOptions and
DelegatingAuthorizationOptions):

1. **The API server vouching for a user.** `kubectl get workflowresults ...` and `kubecanvas get`
   reach the operator through the API server's aggregation layer, which authenticated the
   user and names them in `X-Remote-User`, `X-Remote-Group` and `X-Remote-Extra-*`. Those
   headers are believed only on a connection whose client certificate was signed by the
   request-header CA and carries one of the allowed names — both read from the ConfigMap
   `kube-system/extension-apiserver-authentication` that the API server publishes
   (`RequestHeaders`). Anyone else sending those headers is ignored.
2. **A bearer token**, for a caller inside the cluster that calls the operator directly: the
   API server reviews it (a TokenReview); answers are remembered for `TOKEN_TTL` seconds so
   a client polling a workflow costs one review, not one per request.
3. Otherwise: 401.

Then each read of a Workflow's state is authorized as `get` on that Workflow
(`kubecanvas.io/workflows`, by name, in its namespace) with a SubjectAccessReview: what may
read the Workflow's status (which holds its result) may read the rest of its state. An upload
of a large spec's canvas is authorized as `create` on Workflows in its namespace. The
discovery document is served to anyone authenticated, as the API server's own is.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubecanvas.resources import WORKFLOW
from kubecanvas_operator.authority import AccessReviewer

__all__ = [
    "AUTHENTICATION_CONFIGMAP",
    "TOKEN_TTL",
    "Caller",
    "CallerCheck",
    "RequestHeaders",
    "TokenReviewer",
]

AUTHENTICATION_CONFIGMAP = ("kube-system", "extension-apiserver-authentication")
"""Where the API server publishes how it vouches for users to aggregated API servers."""

TOKEN_TTL = 10.0
"""Seconds a token review is believed (k8s.io/apiserver's default cache TTL)."""

_TOKENS_REMEMBERED = 1_000


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated user, as a SubjectAccessReview names one."""

    username: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def user_info(self) -> dict[str, Any]:
        """The userInfo shape of an admission request, as `AccessReviewer` takes it."""
        info: dict[str, Any] = {"username": self.username, "groups": list(self.groups)}
        if self.uid:
            info["uid"] = self.uid
        if self.extra:
            info["extra"] = {key: list(values) for key, values in self.extra.items()}
        return info


_USERNAME_HEADERS = ("X-Remote-User",)
_GROUP_HEADERS = ("X-Remote-Group",)
_EXTRA_PREFIXES = ("X-Remote-Extra-",)


@dataclass(frozen=True, slots=True)
class RequestHeaders:
    """The API server's request-header settings (`--requestheader-*`)."""

    client_ca: str
    """PEM of the CA that signs the aggregation layer's client certificate."""
    allowed_names: frozenset[str] = frozenset()
    """Common names allowed to assert a user; empty: any certificate of that CA."""
    username_headers: tuple[str, ...] = _USERNAME_HEADERS
    group_headers: tuple[str, ...] = _GROUP_HEADERS
    extra_prefixes: tuple[str, ...] = _EXTRA_PREFIXES

    @classmethod
    def from_configmap(cls, data: Mapping[str, str]) -> RequestHeaders | None:
        """From the ConfigMap's data; None when the API server has no aggregation layer."""
        ca = data.get("requestheader-client-ca-file")
        if not ca:
            return None

        def listed(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
            text = data.get(key)
            return tuple(json.loads(text)) if text else default

        return cls(
            client_ca=ca,
            allowed_names=frozenset(listed("requestheader-allowed-names", ())),
            username_headers=listed("requestheader-username-headers", _USERNAME_HEADERS),
            group_headers=listed("requestheader-group-headers", _GROUP_HEADERS),
            extra_prefixes=listed("requestheader-extra-headers-prefix", _EXTRA_PREFIXES),
        )

    def caller(self, headers: Mapping[str, str], all_values: Callable[[str], list[str]]) -> Caller | None:
        """The user these headers name; None if they name none. `all_values(name)` gives every
        value of a repeated header (groups come one per header; KeyError when there is none,
        as aiohttp's `getall`: the API server sends no group header for a user without one)."""

        def every(name: str) -> list[str]:
            try:
                return list(all_values(name))
            except KeyError:
                return []

        username = next((headers[name] for name in self.username_headers if headers.get(name)), "")
        if not username:
            return None
        groups = tuple(value for name in self.group_headers for value in every(name))
        extra: dict[str, tuple[str, ...]] = {}
        for header in headers:
            for prefix in self.extra_prefixes:
                if header.lower().startswith(prefix.lower()):
                    extra[header[len(prefix) :].lower()] = tuple(every(header))
        return Caller(username, groups, extra=extra)


class TokenReviewer(Protocol):
    """Asks the API server who a bearer token belongs to (kube.KubeApi.review_token)."""

    async def review_token(self, token: str) -> Mapping[str, Any] | None:
        """The token's userInfo, or None if the API server does not accept it."""
        ...


class CallerCheck:
    """Authenticates a request, then authorizes one read; see the module's docstring."""

    def __init__(
        self,
        tokens: TokenReviewer,
        access: AccessReviewer,
        request_headers: RequestHeaders | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tokens = tokens
        self.access = access
        self.request_headers = request_headers
        self.clock = clock
        self._reviewed: OrderedDict[str, tuple[float, Caller | None]] = OrderedDict()

    async def authenticate(
        self,
        headers: Mapping[str, str],
        all_values: Callable[[str], list[str]],
        peer_common_name: str | None,
    ) -> Caller | None:
        """The caller, or None (answer 401); KubeApiError when the API server could not review a
        token. `peer_common_name` is the CN of a client
        certificate the TLS layer verified against the request-header CA, None if none."""
        vouched = self.request_headers
        if (
            vouched is not None
            and peer_common_name is not None
            and (not vouched.allowed_names or peer_common_name in vouched.allowed_names)
        ):
            return vouched.caller(headers, all_values)
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return await self._review(token.strip())

    async def may(
        self, caller: Caller, namespace: str, verb: str, name: str | None = None
    ) -> tuple[bool, str]:
        """Whether `caller` may `verb` the Workflow `namespace/name` (Workflows there, for
        None): (allowed, the authorizer's reason)."""
        return await self.access.review_access(
            caller.user_info(),
            namespace,
            verb=verb,
            group=WORKFLOW.group,
            resource=WORKFLOW.plural,
            name=name,
        )

    async def _review(self, token: str) -> Caller | None:
        now = self.clock()
        remembered = self._reviewed.get(token)
        if remembered is not None and now - remembered[0] < TOKEN_TTL:
            return remembered[1]
        user = await self.tokens.review_token(token)  # KubeApiError: not remembered, asked again
        caller = _caller_of(user) if user is not None else None
        self._reviewed[token] = (now, caller)
        self._reviewed.move_to_end(token)
        while len(self._reviewed) > _TOKENS_REMEMBERED:
            self._reviewed.popitem(last=False)
        return caller


def _caller_of(user: Mapping[str, Any]) -> Caller | None:
    username = str(user.get("username") or "")
    if not username:
        return None
    extra = {
        str(key): tuple(str(v) for v in values or ()) for key, values in (user.get("extra") or {}).items()
    }
    return Caller(
        username, tuple(str(g) for g in user.get("groups") or ()), str(user.get("uid") or ""), extra
    )
