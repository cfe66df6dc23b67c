"""The diff base kopf keeps on each object, with its bulky fields reduced to digests.

kopf stores the last-handled spec in an annotation to compute diffs. A Workflow's canvas
(or a CronWorkflow's workflowSpec) can be large, and an annotation over 256 KiB is refused
by the API server forever after (a 10,000-task group). A digest keeps the annotation small
and still shows that the field changed, which is all the immutability warning needs.

kopf builds this essence for every event of the object (each status write is one), and
deep-copies what it is given: the bulky fields are replaced before kopf sees them, and
their digests are computed once per generation of the spec.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, cast

import kopf

__all__ = ["DIGESTED_FIELDS", "DigestedDiffBaseStorage", "digest"]

# Fields that may be large; everything else in a spec is a handful of scalars.
DIGESTED_FIELDS = ("canvas", "args", "kwargs", "defaults", "code", "workflowSpec")
_REMEMBERED = 4096  # (object, generation) digests kept


class DigestedDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's annotation diff base, with each bulky spec field replaced by its SHA-256."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._digests: OrderedDict[tuple[str, Any], dict[str, dict[str, str]]] = OrderedDict()

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        spec = body.get("spec")
        if isinstance(spec, Mapping) and any(field in spec for field in DIGESTED_FIELDS):
            slim = {**spec, **self._digests_of(body, spec)}
            body = kopf.Body(cast(kopf.RawBody, {**body, "spec": slim}))
        return super().build(body=body, extra_fields=extra_fields)

    def _digests_of(self, body: kopf.Body, spec: Mapping[str, Any]) -> dict[str, dict[str, str]]:
        metadata = body.get("metadata") or {}
        generation = metadata.get("generation")
        key = (str(metadata.get("uid", "")), generation)
        known = self._digests.get(key) if generation is not None else None
        if known is None:
            known = {field: {"sha256": digest(spec[field])} for field in DIGESTED_FIELDS if field in spec}
            if generation is not None:
                self._digests[key] = known
                while len(self._digests) > _REMEMBERED:
                    self._digests.popitem(last=False)
        else:
            self._digests.move_to_end(key)
        return known


def digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
