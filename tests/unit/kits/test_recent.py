"""`Recent`: a set bounded to its most recently added members."""

from __future__ import annotations

from kubecanvas._kits.recent import Recent


def test_the_oldest_member_is_forgotten_first_and_a_member_added_again_keeps_its_place() -> None:
    recent: Recent[str] = Recent(2)
    recent.add("a")
    recent.add("b")
    recent.add("a")  # already there: still the oldest
    recent.add("c")
    assert ("a" in recent, "b" in recent, "c" in recent, len(recent)) == (False, True, True, 2)
    recent.discard("b")
    recent.discard("missing")
    assert ("b" in recent, len(recent)) == (False, 1)
