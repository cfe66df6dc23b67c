"""Queues: places to run that the cluster's operator defines (the chart's `tasks.queues`,
`KUBECANVAS_QUEUES`), as Celery's queues are the workers' side of routing.

A task with `options.queue: gpu` gets the queue's options (node selector, tolerations,
resources, image, service account, ...) under its own, which win field by field. A queue
the operator does not define is refused when the Workflow is admitted (and by the webhook),
naming the queues there are: never a task waiting for a place that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kubecanvas._kits.jsonvalues import JSONObject
from kubecanvas.canvas.merging import merge_options
from kubecanvas.errors import ConfigurationError, InvalidWorkflow, Problem
from kubecanvas.graph.nodes import Graph

__all__ = ["QUEUE", "check_queues", "parse_queues", "with_queue"]

QUEUE = "queue"  # the option's name, in the Workflow's spelling
PLACEMENT = (
    "image",
    "resources",
    "env",
    "nodeSelector",
    "tolerations",
    "serviceAccountName",
    "runner",
    "runners",
)
"""What a queue may set: where and how a task's pod runs (`runner: warm`: in a warm runner's
pod; `runners`: how many of them). Not how the task runs (timeouts, retries, expiry): the
engine and the runtime read those from the Workflow alone."""


def parse_queues(text: str | None, source: str = "KUBECANVAS_QUEUES") -> dict[str, JSONObject]:
    """The queues of a JSON mapping of names to TaskOptions (the Workflow's spelling);
    ConfigurationError naming the bad field, at start rather than at a task's launch."""
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"{source} is not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{source} must be a mapping of queue names to task options")
    from pydantic import ValidationError

    from kubecanvas.canvas.task_options import TaskOptions
    from kubecanvas.canvas.validation import problems_from

    queues: dict[str, JSONObject] = {}
    problems: list[str] = []
    for name, options in raw.items():
        if not isinstance(options, dict):
            problems.append(f"{source}.{name}: must be a mapping of task options, not {options!r}")
            continue
        other = sorted(set(options) - set(PLACEMENT))
        if other:
            problems.append(
                f"{source}.{name}: a queue sets where and how a task's pod runs "
                f"({', '.join(PLACEMENT)}), not {', '.join(other)}"
            )
            continue
        try:
            queues[str(name)] = TaskOptions.model_validate(options).to_json()
        except ValidationError as error:
            problems.extend(str(problem) for problem in problems_from(error, prefix=(f"{source}.{name}",)))
    if problems:
        raise ConfigurationError("; ".join(problems))
    return queues


def check_queues(graph: Graph, queues: Mapping[str, Any]) -> None:
    """InvalidWorkflow naming each task whose queue the operator does not define."""
    known = ", ".join(sorted(queues)) if queues else "none (the chart's `tasks.queues` is empty)"
    problems = {
        Problem(f"{node.path}.options.queue", f"no queue {name!r} on this cluster; its queues: {known}")
        for node in graph.every_task()
        if isinstance(name := node.options.get(QUEUE), str) and name not in queues
    }
    if problems:
        raise InvalidWorkflow(sorted(problems, key=lambda problem: problem.path))


def with_queue(options: JSONObject, queues: Mapping[str, JSONObject]) -> JSONObject:
    """A task's options with its queue's under them (the task's own win field by field)."""
    name = options.get(QUEUE)
    if not isinstance(name, str) or name not in queues:
        return options
    own = {key: value for key, value in options.items() if key != QUEUE}
    return merge_options(queues[name], own)
