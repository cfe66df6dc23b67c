"""A set that remembers only its most recent members: what an operator keeps about objects it
has seen (workflows it settled, Secrets it made), bounded so that memory does not grow with
every workflow ever run. The oldest member added is forgotten first."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["Recent"]

T = TypeVar("T", bound=Hashable)


class Recent(Generic[T]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._members: OrderedDict[T, None] = OrderedDict()

    def add(self, member: T) -> None:
        """Remember `member` (one already remembered keeps its place)."""
        self._members[member] = None
        while len(self._members) > self.size:
            self._members.popitem(last=False)

    def discard(self, member: T) -> None:
        self._members.pop(member, None)

    def __contains__(self, member: object) -> bool:
        return member in self._members

    def __len__(self) -> int:
        return len(self._members)
