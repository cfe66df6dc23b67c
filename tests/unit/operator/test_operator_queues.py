"""Queues the cluster's operator defines (the chart's `queues`): where and how a task's pod
runs, under the task's own options; an unknown one refused when the Workflow is admitted."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubecanvas.check import checked_spec
from kubecanvas.errors import ConfigurationError, InvalidWorkflow
from kubecanvas.graph.nodes import TaskNode
from kubecanvas_operator.config import OperatorConfig
from kubecanvas_operator.jobs import WorkflowIdentity, build_job
from kubecanvas_operator.queues import check_queues, parse_queues

GPU = {
    "nodeSelector": {"accelerator": "nvidia"},
    "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "resources": {"limits": {"nvidia.com/gpu": 1}},
    "env": [{"name": "CUDA_VISIBLE_DEVICES", "value": "0"}, {"name": "MODE", "value": "queue"}],
}


def config() -> OperatorConfig:
    return OperatorConfig.from_environ({"KUBECANVAS_QUEUES": json.dumps({"gpu": GPU})})


def pod(options: dict[str, Any]) -> dict[str, Any]:
    node = TaskNode(id="t0", index=0, task="m.train", options=options)
    spec: dict[str, Any] = build_job(WorkflowIdentity("wf", "team", "uid-1"), node, 1, config())["spec"]
    return spec["template"]["spec"]


def test_a_queued_task_gets_the_queues_placement_under_its_own_options() -> None:
    spec = pod({"queue": "gpu", "nodeSelector": {"zone": "b"}, "env": [{"name": "MODE", "value": "own"}]})
    (container,) = spec["containers"]
    assert spec["nodeSelector"] == {"accelerator": "nvidia", "zone": "b"}
    assert spec["tolerations"] == GPU["tolerations"]
    assert container["resources"] == {"limits": {"nvidia.com/gpu": 1}}
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert (env["CUDA_VISIBLE_DEVICES"], env["MODE"]) == ("0", "own")


def test_an_unknown_queue_is_refused_at_admission_naming_the_ones_there_are() -> None:
    graph = checked_spec(
        {"canvas": {"chain": [{"task": "m.a"}, {"task": "m.b", "options": {"queue": "tpu"}}]}}
    ).graph
    with pytest.raises(InvalidWorkflow) as caught:
        check_queues(graph, config().queues)
    assert [str(problem) for problem in caught.value.problems] == [
        "spec.canvas.chain[1].options.queue: no queue 'tpu' on this cluster; its queues: gpu"
    ]
    check_queues(
        checked_spec({"canvas": {"task": "m.a", "options": {"queue": "gpu"}}}).graph, config().queues
    )


def test_a_queue_sets_placement_only_and_bad_values_are_named_at_start() -> None:
    with pytest.raises(
        ConfigurationError, match=r"KUBECANVAS_QUEUES\.slow: a queue sets where .* not timeout"
    ):
        parse_queues(json.dumps({"slow": {"timeout": 5}}))
    with pytest.raises(
        ConfigurationError, match=r"KUBECANVAS_QUEUES\.gpu\.nodeSelector\.zone: must be a string"
    ):
        parse_queues(json.dumps({"gpu": {"nodeSelector": {"zone": 1}}}))
    with pytest.raises(ConfigurationError, match="KUBECANVAS_QUEUES is not JSON"):
        parse_queues("{gpu")
