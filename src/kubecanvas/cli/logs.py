"""`kubecanvas logs NAME`: the logs of a workflow's task pods, task by task.

Each attempt of a task is a Job with one pod. The operator deletes the Job of a task
that succeeded as soon as Kubernetes has seen it complete (its work is in Redis, and
etcd stays small), so the logs of succeeded tasks are usually gone: this says so
rather than printing nothing. Failed Jobs are kept for an hour (`ttlSecondsAfterFinished`).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kubecanvas.cli.clusteropts import FINISHED, NameArgument, NamespaceOption, RedisOption
from kubecanvas.cli.errors import EXIT_INTERRUPTED, EXIT_OK, CliError

if TYPE_CHECKING:
    from kubecanvas.client.cluster import WorkflowApi
    from kubecanvas.report.document import TaskEntry

__all__ = ["logs", "missing_log_note"]


def logs(
    name: NameArgument,
    namespace: NamespaceOption = None,
    task: Annotated[
        str | None,
        typer.Option(
            "--task", "-t", help="Only this task (its id, such as t3): every attempt.", metavar="ID"
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="Keep printing new lines, from new attempts too, until the workflow ends."
        ),
    ] = False,
    redis: RedisOption = None,
) -> None:
    """Print the logs of the workflow's task pods, in canvas order, attempt by attempt.

    The Job (and pod) of a task that succeeded is removed shortly after it completed: then
    its logs are gone, and this says so. Failed attempts' Jobs are kept for an hour."""
    from kubecanvas.cli.clusteropts import connect, namespace_of

    target = namespace_of(namespace)
    api = connect()
    body = api.get(target, name)
    tasks = _tasks(api, body, redis)
    if task is not None and tasks is not None and task not in {entry["id"] for entry in tasks}:
        known = ", ".join(entry["id"] for entry in tasks[:20])
        raise CliError(f"workflow {target}/{name} has no task {task!r} (its tasks: {known or 'none yet'})")
    try:
        if follow:
            _follow(api, body, tasks, task)
        else:
            _print_all(api, body, tasks, task)
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    raise typer.Exit(EXIT_OK)


def _tasks(api: WorkflowApi, body: Mapping[str, Any], redis: str | None) -> list[TaskEntry] | None:
    """The tasks and their states, or None (with a warning) when no state can be read."""
    from kubecanvas.cli.clusteropts import state_source
    from kubecanvas.errors import ClusterError

    try:
        with state_source(api, redis) as source:
            return list(source.document(body)["tasks"])
    except ClusterError as error:
        typer.echo(f"kubecanvas: task states unavailable ({error}); showing the pods that exist", err=True)
        return None


def _pods_by_task(api: WorkflowApi, body: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The task pods of the workflow by task id; its warm runners' pods under `RUNNERS`."""
    from kubecanvas.resources import ATTEMPT_LABEL, RUNNER_POOL_LABEL, TASK_ID_LABEL, WORKFLOW_UID_LABEL

    metadata = body["metadata"]
    pods = api.pods(metadata["namespace"], f"{WORKFLOW_UID_LABEL}={metadata['uid']}")
    grouped: dict[str, list[dict[str, Any]]] = {}
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        key = RUNNERS if RUNNER_POOL_LABEL in labels else labels.get(TASK_ID_LABEL, "?")
        grouped.setdefault(key, []).append(pod)
    for group in grouped.values():
        group.sort(key=lambda pod: int((pod["metadata"].get("labels") or {}).get(ATTEMPT_LABEL, "0") or 0))
    return grouped


RUNNERS = "(runners)"  # not a task id (a task id never has parentheses)


def _warm_attempts(
    api: WorkflowApi, namespace: str, runners: list[dict[str, Any]]
) -> dict[str, list[tuple[int, str, list[str]]]]:
    """The lines of each attempt that ran in a warm runner (docs/warm-runners.md), from its
    runner pod's log: task id -> [(attempt, runner pod, lines)], attempts in order."""
    from kubecanvas.errors import ClusterError
    from kubecanvas.execution.logmarks import split_attempts

    found: dict[str, list[tuple[int, str, list[str]]]] = {}
    for pod in runners:
        pod_name = pod["metadata"]["name"]
        try:
            text = api.pod_log(namespace, pod_name)
        except ClusterError:
            continue
        for (task_id, attempt), lines in split_attempts(text.splitlines()).items():
            found.setdefault(task_id, []).append((attempt, pod_name, lines))
    for attempts in found.values():
        attempts.sort()
    return found


def _attempt(pod: Mapping[str, Any]) -> str:
    from kubecanvas.resources import ATTEMPT_LABEL

    return str((pod["metadata"].get("labels") or {}).get(ATTEMPT_LABEL, "?"))


def missing_log_note(entry: Mapping[str, Any] | None) -> str:
    """Why a task has no pod to read, in words."""
    if entry is None:
        return "no pod"
    state, attempts = entry["state"], entry["attempts"]
    if state == "SUCCESS":
        return (
            "succeeded; its logs are gone: the Job (and pod) of a task that succeeded is removed "
            "shortly after it completed (the chart's tasks.succeededJobTTLSeconds, 30 s by default)"
        )
    if state == "PENDING":
        return "not started yet"
    if attempts == 0:
        error = entry.get("error") or {}
        why = f"{error.get('type')}: {error.get('message')}" if error else state
        return f"never ran: {why}"
    if state in ("STARTED", "RETRY"):
        return f"{state.lower()}; no pod yet for attempt {attempts}"
    return (
        f"{state}; its Job is gone (the Jobs of failed attempts are kept for an hour, "
        "a revoked task's Job is deleted at once)"
    )


def _print_all(
    api: WorkflowApi, body: Mapping[str, Any], tasks: list[TaskEntry] | None, only: str | None
) -> None:
    from kubecanvas.errors import ClusterError

    namespace = body["metadata"]["namespace"]
    pods = _pods_by_task(api, body)
    warm = _warm_attempts(api, namespace, pods.pop(RUNNERS, []))
    entries: dict[str, Any] = {entry["id"]: entry for entry in tasks or []}
    order = list(entries) + sorted(task_id for task_id in pods if task_id not in entries)
    out = sys.stdout
    for task_id in order:
        if only is not None and task_id != only:
            continue
        entry = entries.get(task_id)
        label = f"{task_id} {entry['task']}" if entry else task_id
        for attempt, runner, lines in warm.get(task_id, []):
            out.write(f"==> {label}, attempt {attempt} (warm runner pod {runner}) <==\n")
            out.write("".join(line + "\n" for line in lines))
        if task_id in warm:
            continue
        if not pods.get(task_id):
            out.write(f"==> {label} <==\n({missing_log_note(entry)})\n")
            continue
        for pod in pods[task_id]:
            pod_name = pod["metadata"]["name"]
            out.write(f"==> {label}, attempt {_attempt(pod)} (pod {pod_name}) <==\n")
            try:
                text = api.pod_log(namespace, pod_name)
            except ClusterError as error:
                text = f"(no log: {error})\n"
            out.write(text if text.endswith("\n") or not text else text + "\n")
        out.flush()


def _follow(
    api: WorkflowApi, body: Mapping[str, Any], tasks: list[TaskEntry] | None, only: str | None
) -> None:
    """Follow every pod of the workflow (or of one task) as it appears, until the
    workflow has finished and every log has ended."""
    metadata = body["metadata"]
    namespace, name = metadata["namespace"], metadata["name"]
    lock = threading.Lock()
    followers: dict[str, threading.Thread] = {}
    entries = {entry["id"]: entry for entry in tasks or []}
    pods = _pods_by_task(api, body)
    for task_id, entry in entries.items():  # say once why finished tasks show nothing
        missing = not pods.get(task_id) and RUNNERS not in pods  # a warm task's pod is its runner's
        if (only is None or task_id == only) and missing and entry["state"] != "PENDING":
            _emit(lock, f"[{task_id}] ({missing_log_note(entry)})")
    while True:
        for task_id, group in pods.items():
            if only is not None and task_id not in (only, RUNNERS):
                continue
            for pod in group:
                pod_name = pod["metadata"]["name"]
                if pod_name not in followers:
                    # a warm runner's lines: its marks say which task each line is of
                    runner = task_id == RUNNERS
                    prefix = f"[runner {pod_name}]" if runner else f"[{task_id}#{_attempt(pod)}]"
                    thread = threading.Thread(
                        target=_follow_pod, args=(api, namespace, pod_name, prefix, lock), daemon=True
                    )
                    followers[pod_name] = thread
                    thread.start()
        phase = (api.get(namespace, name).get("status") or {}).get("phase")
        if phase in FINISHED and not any(thread.is_alive() for thread in followers.values()):
            return
        time.sleep(1.0)
        pods = _pods_by_task(api, body)


def _follow_pod(api: WorkflowApi, namespace: str, pod: str, prefix: str, lock: threading.Lock) -> None:
    from kubecanvas.errors import ClusterError

    deadline = time.monotonic() + 300
    while True:
        try:
            for line in api.follow_pod_log(namespace, pod):
                _emit(lock, f"{prefix} {line}")
            return
        except ClusterError as error:
            text = str(error)
            if ("waiting to start" in text or "ContainerCreating" in text) and time.monotonic() < deadline:
                time.sleep(0.5)  # the container has not started yet
                continue
            if "not found" not in text:
                _emit(lock, f"{prefix} (no log: {text})")
            return


def _emit(lock: threading.Lock, line: str) -> None:
    with lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
