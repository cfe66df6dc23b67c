"""The diff base kopf keeps on each object, with its bulky fields reduced to digests.

kopf stores the last-handled spec in an annotation to compute diffs. A Workflow's canvas
(or a CronWorkflow's workflowSpec) can be large, and an annotation over 256 KiB is refused
by the API server forever after (a 10,000-task group). A digest keeps the annotation small
and still shows that the field changed, which is all the immutability warning needs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import kopf

# Fields that may be large; everything else in a spec is a handful of scalars.
DIGESTED_FIELDS = ("canvas", "args", "kwargs", "defaults", "code", "workflowSpec")


class DigestedDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's annotation diff base, with each bulky spec field replaced by its SHA-256."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        essence = super().build(body=body, extra_fields=extra_fields)
        spec = essence.get("spec")
        if isinstance(spec, dict):
            for field in DIGESTED_FIELDS:
                if field in spec:
                    spec[field] = {"sha256": digest(spec[field])}
        return essence


def digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
