"""What the eager and the subprocess runners share about one attempt: the inputs it
gets, how its outcome is fed to the engine, and how a crash is described.

Keeping this in one place is what makes `.apply()` and `kubecanvas run` agree.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterable, Mapping
from pathlib import Path

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas.engine.machine import Engine
from kubecanvas.engine.states import TaskFailure
from kubecanvas.errors import TimeLimitExceeded, WorkerLostError
from kubecanvas.execution.environment import ATTEMPT, IMPORTS, TASK_ID, WORKFLOW, WORKFLOW_UID
from kubecanvas.execution.exit_codes import exit_meaning
from kubecanvas.graph.arguments import MissingResult, build_call
from kubecanvas.graph.nodes import TaskNode
from kubecanvas.store.taskside import TaskInputs, failed_task, needed_results

__all__ = [
    "child_environment",
    "expected_call",
    "is_errback_input",
    "task_inputs",
    "time_limit_exceeded",
    "worker_lost",
]


def is_errback_input(node: TaskNode) -> bool:
    return node.input is not None and node.input.kind == "errback"


def task_inputs(
    engine: Engine, node: TaskNode, results: Mapping[str, JSON], calls: Mapping[str, JSONObject]
) -> TaskInputs:
    """Everything one attempt needs, as the pod would load it from Redis."""
    wanted = needed_results(node)
    failed = None
    if is_errback_input(node) and node.input is not None and node.input.failed:
        failed_id = node.input.failed
        failed = failed_task(engine.nodes[failed_id], calls.get(failed_id), engine.records[failed_id].error)
    return TaskInputs(
        node=node,
        results={node_id: results[node_id] for node_id in wanted if node_id in results},
        spec_args=list(engine.graph.args),
        spec_kwargs=dict(engine.graph.kwargs),
        failed=failed,
    )


def child_environment(
    base: Mapping[str, str],
    *,
    task_id: str,
    attempt: int,
    workflow: str,
    workflow_uid: str,
    imports: Iterable[str] = (),
    code_dir: Path | None,
    options: JSONObject,
) -> dict[str, str]:
    """The environment of one attempt: the runner's, the task's `env` option (plain
    values; `valueFrom` needs a cluster), the task identity and the code on PYTHONPATH."""
    env = dict(base)
    variables = options.get("env")
    for item in variables if isinstance(variables, list) else []:
        if isinstance(item, dict):
            name, value = item.get("name"), item.get("value")
            if isinstance(name, str) and isinstance(value, str):
                env[name] = value
    env[TASK_ID] = task_id
    env[ATTEMPT] = str(attempt)
    env[WORKFLOW] = workflow
    env[WORKFLOW_UID] = workflow_uid
    env[IMPORTS] = json.dumps(list(imports))
    if code_dir is not None:
        paths = [str(code_dir), *filter(None, base.get("PYTHONPATH", "").split(os.pathsep))]
        env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def expected_call(inputs: TaskInputs) -> JSONObject | None:
    """The call a task will make, known before it runs, so that a task whose process
    dies still shows its arguments. None for an errback (the runtime decides)."""
    if is_errback_input(inputs.node):
        return None
    try:
        call = build_call(inputs.node, inputs.results, inputs.spec_args, inputs.spec_kwargs)
    except MissingResult:
        return None
    return {"args": call.args, "kwargs": call.kwargs}


def worker_lost(returncode: int | None, detail: str = "") -> TaskFailure:
    """A process that ended without writing its outcome."""
    if returncode is None:
        how = "disappeared"
    elif returncode < 0:
        how = f"was killed by signal {_signal_name(-returncode)}"
    else:
        meaning = exit_meaning(returncode)
        how = f"exited with code {returncode}" + (f" ({meaning})" if meaning else "")
    message = f"the task's process {how} without reporting an outcome{detail}"
    return TaskFailure.of(WorkerLostError, message)


def time_limit_exceeded(timeout: float, grace: float) -> TaskFailure:
    """A process still running `grace` seconds after its `timeout`: killed by the runner."""
    return TaskFailure.of(
        TimeLimitExceeded,
        f"TimeLimitExceeded({timeout:g}): still running {grace:g}s after its timeout, killed",
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
