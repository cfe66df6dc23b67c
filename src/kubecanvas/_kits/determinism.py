"""Deterministic stand-ins for randomness, so that pure code stays pure and replayable."""

from __future__ import annotations

import hashlib


def stable_fraction(*parts: object) -> float:
    """A number in [0, 1) that depends only on `parts`: retry jitter that survives a restart."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
