"""A canvas kept out of the Workflow object, for specs too large for etcd.

etcd refuses an object over 1.5 MiB (its default `--max-request-bytes`), and a Workflow's
spec is mostly its data: `map`, `starmap` and `chunks` items, a group of thousands of
signatures. So a spec whose JSON passes `INLINE_SPEC_LIMIT` travels in two parts:

- its *stored part* (`canvas`, `args` and `kwargs`, `STORED_FIELDS`) goes first to the
  operator's results API (`workflowcanvases.results.kubecanvas.io`, create only), which keeps
  it in Redis under its SHA-256 for `UPLOAD_TTL_SECONDS`, and never in etcd;
- the Workflow then carries the rest of the spec and, in place of the stored part,

      spec:
        canvasRef: {sha256: <64 hex digits>, bytes: <its length in UTF-8>}

The operator puts the two back together when it admits the Workflow (and so does the
admission webhook, which checks the whole spec and its author's rights as for any other),
after checking the digest: what runs is exactly what was uploaded. The joined stored part is
then kept with the workflow's own keys, so a `kubecanvas retry` of it finds it there after
the upload itself has expired. The client (`WorkflowApi.create`) splits a spec by itself:
users write and submit the same YAML or canvas as ever, and `kubectl apply` of a small
Workflow is unchanged. A spec that names a canvasRef cannot run without the cluster it was
uploaded to: `kubecanvas run` and `lint` say so (`check`).

Pure functions here: the store keeps the text (`store.hostside`), the operator joins
(`kubecanvas_operator.canvases`), the client splits (`client.cluster`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubecanvas._kits.jsonvalues import JSON, dumps, loads
from kubecanvas.errors import InvalidWorkflow, Problem

__all__ = [
    "CANVAS_REF",
    "INLINE_SPEC_LIMIT",
    "MAX_STORED_BYTES",
    "STORED_FIELDS",
    "UPLOAD_TTL_SECONDS",
    "CanvasRef",
    "canvas_ref",
    "joined",
    "split",
    "stored_part",
    "stored_text",
]

CANVAS_REF = "canvasRef"
STORED_FIELDS = ("canvas", "args", "kwargs")
"""The fields of a spec that a canvasRef stands for: where a large spec's size is."""

INLINE_SPEC_LIMIT = 256 * 1024
"""Bytes of spec JSON above which the client uploads the stored part. Well under etcd's
1.5 MiB, and the size past which `kubectl apply` fails anyway (its last-applied annotation
copies the spec, and a Workflow's annotations may total 256 KiB). It also spares the API
server and etcd: each status write stores the whole object, spec included (a 10,000-task
group's 322 KB spec, written with each of its status updates)."""

MAX_STORED_BYTES = 32 * 1024 * 1024
"""The largest stored part the results API takes (the operator parses and compiles it in
memory: ~10 bytes of Python objects per byte of JSON)."""

UPLOAD_TTL_SECONDS = 3600
"""How long an upload waits for the Workflow that names it; once admitted, a workflow keeps
its own copy for as long as its other keys."""

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class CanvasRef:
    """Which stored part a spec stands on: its digest and length."""

    sha256: str
    bytes: int

    @classmethod
    def of(cls, text: str) -> CanvasRef:
        data = text.encode()
        return cls(hashlib.sha256(data).hexdigest(), len(data))

    def to_json(self) -> dict[str, JSON]:
        return {"sha256": self.sha256, "bytes": self.bytes}

    def __str__(self) -> str:
        return f"sha256:{self.sha256[:12]}… of {self.bytes:,} bytes"


def stored_part(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The stored fields `spec` has, in `STORED_FIELDS` order (what the client uploads)."""
    return {field: spec[field] for field in STORED_FIELDS if field in spec}


def stored_text(part: Mapping[str, Any]) -> str:
    """The stored part's text, as the digest is taken of it: compact JSON of the stored
    fields present, in `STORED_FIELDS` order (what the API stores)."""
    return dumps(stored_part(part))


def split(spec: Mapping[str, Any], limit: int = INLINE_SPEC_LIMIT) -> tuple[dict[str, Any], str] | None:
    """(the spec with a canvasRef, the stored part's text) for a spec over `limit` bytes of
    JSON; None for one that fits in the Workflow as it is (or already names a canvasRef)."""
    if CANVAS_REF in spec or len(dumps(dict(spec)).encode()) <= limit:
        return None
    text = stored_text(spec)
    rest = {key: value for key, value in spec.items() if key not in STORED_FIELDS}
    return {**rest, CANVAS_REF: CanvasRef.of(text).to_json()}, text


def canvas_ref(spec: Any, path: str = "spec") -> CanvasRef | None:
    """The spec's canvasRef, None when its canvas is inline; InvalidWorkflow for a malformed
    one, or one given beside the fields it stands for."""
    if not isinstance(spec, Mapping) or CANVAS_REF not in spec:
        return None
    where = f"{path}.{CANVAS_REF}"
    raw = spec[CANVAS_REF]
    problems = [
        Problem(f"{path}.{field}", f"not allowed beside {CANVAS_REF}, which stands for it")
        for field in STORED_FIELDS
        if field in spec
    ]
    if not isinstance(raw, Mapping) or set(raw) != {"sha256", "bytes"}:
        problems.append(Problem(where, "must be {sha256: <64 hex digits>, bytes: <length>}"))
    else:
        if not isinstance(raw["sha256"], str) or not _SHA256.match(raw["sha256"]):
            problems.append(Problem(f"{where}.sha256", "must be 64 lowercase hex digits"))
        if isinstance(raw["bytes"], bool) or not isinstance(raw["bytes"], int) or raw["bytes"] < 1:
            problems.append(Problem(f"{where}.bytes", "must be a positive integer"))
    if problems:
        raise InvalidWorkflow(problems)
    return CanvasRef(raw["sha256"], raw["bytes"])


def joined(spec: Mapping[str, Any], text: str, path: str = "spec") -> dict[str, Any]:
    """The whole spec: `spec` without its canvasRef, with the stored part `text` in its place.
    InvalidWorkflow unless `text` is what the canvasRef names and holds only stored fields."""
    ref = canvas_ref(spec, path)
    assert ref is not None, "joined() is for a spec with a canvasRef"
    where = f"{path}.{CANVAS_REF}"
    if CanvasRef.of(text) != ref:
        raise InvalidWorkflow([Problem(where, f"the stored canvas is not {ref}: it was changed")])
    part = loads(text)
    if not isinstance(part, dict) or "canvas" not in part or set(part) - set(STORED_FIELDS):
        raise InvalidWorkflow(
            [Problem(where, f"the stored canvas must hold canvas, and at most {', '.join(STORED_FIELDS)}")]
        )
    rest = {key: value for key, value in spec.items() if key != CANVAS_REF}
    return {**rest, **part}
