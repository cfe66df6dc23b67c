"""The names kubecanvas is known by on the API agree everywhere they are spelled."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from kubecanvas.canvas.cron_model import CronWorkflow
from kubecanvas.canvas.model import Workflow
from kubecanvas.resources import API_VERSION, CRON_WORKFLOW, WORKFLOW, Resource, job_name, label_value

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("resource", [WORKFLOW, CRON_WORKFLOW], ids=lambda resource: resource.kind)
@pytest.mark.parametrize("folder", ["crds", "charts/kubecanvas/crds"])
def test_the_crds_define_what_the_code_asks_for(resource: Resource, folder: str) -> None:
    crd: dict[str, Any] = yaml.safe_load(
        (REPO / folder / f"{resource.plural}.{resource.group}.yaml").read_text()
    )
    assert crd["metadata"]["name"] == f"{resource.plural}.{resource.group}"
    assert crd["spec"]["group"] == resource.group
    assert crd["spec"]["names"]["kind"] == resource.kind
    assert crd["spec"]["names"]["plural"] == resource.plural
    assert resource.version in [version["name"] for version in crd["spec"]["versions"]]


def test_the_models_accept_exactly_this_api_version() -> None:
    for model in (Workflow, CronWorkflow):
        assert get_args(model.model_fields["api_version"].annotation) == (API_VERSION,)


def test_a_reference_points_at_one_object() -> None:
    assert WORKFLOW.reference("w", "team-a", "u1") == {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "w", "namespace": "team-a", "uid": "u1"},
    }


def test_job_names_stay_valid_and_distinct() -> None:
    assert job_name("squares", "t3", 1) == "squares-t3-1"
    long_a, long_b = job_name("a" * 70, "t1.2", 10), job_name("a" * 69 + "b", "t1.2", 10)
    assert len(long_a) <= 63
    assert long_a.endswith("-t1-2-10")
    assert long_a != long_b


def test_label_values_are_valid() -> None:
    assert label_value("conftasks.add") == "conftasks.add"
    assert label_value("a/b c") == "a-b-c"
    assert len(label_value("x" * 100)) == 63
