"""Which namespaces an operator serves: names and glob patterns, one rule for every caller."""

from __future__ import annotations

from kubecanvas_operator.config import OperatorConfig


def test_an_operator_without_namespaces_serves_all_of_them() -> None:
    config = OperatorConfig()
    assert config.watches("anything")
    assert config.listable_namespaces == ()


def test_names_are_served_exactly_and_listed_one_by_one() -> None:
    config = OperatorConfig(watch_namespaces=("team-a", "team-b"))
    assert config.watches("team-a")
    assert not config.watches("team-ab")
    assert not config.watches(None)
    assert config.listable_namespaces == ("team-a", "team-b")


def test_patterns_match_as_kopf_matches_them_and_are_listed_cluster_wide() -> None:
    config = OperatorConfig(watch_namespaces=("t-*", "exact"))
    assert config.watches("t-test-chain-1a2b3c")
    assert config.watches("exact")
    assert not config.watches("c-chart-install")
    assert config.listable_namespaces == ()  # no API lists `t-*`: list all, then filter
