"""The benchmark's tasks, put in a ConfigMap `benchtasks` in every scenario's namespace.

Plain functions (kubecanvas runs any importable function by dotted path), so that a
task's own work is nil and every figure measures the machinery around it.
"""

from __future__ import annotations

from typing import Any


def noop(*args: Any, **kwargs: Any) -> None:
    """Nothing: in a chain it receives the previous (None) result and ignores it."""
    return None


def add(x: Any, y: Any) -> Any:
    return x + y


def tsum(nums: list[Any]) -> Any:
    return sum(nums)
