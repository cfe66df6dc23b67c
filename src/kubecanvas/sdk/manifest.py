"""Wrap a canvas mapping into a Workflow manifest and validate it.

Validation goes through the same check (`kubecanvas.check`) as `kubectl apply` and the
operator, so an SDK mistake gets the same field-path error. The model (pydantic) is
imported only here, at call time: task pods import the SDK but never build Workflows.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas.canvas.merging import merge_options
from kubecanvas.canvas.names import is_import_path
from kubecanvas.errors import Problem, TaskArgumentsError
from kubecanvas.execution.task_import import registered_module
from kubecanvas.resources import API_VERSION
from kubecanvas.sdk.call_options import json_at, normalize_code, normalize_options

if TYPE_CHECKING:
    from kubecanvas.graph.nodes import Graph

__all__ = ["build_manifest", "check_call", "slug", "unique_name", "validate_manifest"]


def build_manifest(
    canvas: JSONObject,
    *,
    name: str | None,
    label: str,
    namespace: str | None = None,
    code: Mapping[str, Any] | None = None,
    args: Iterable[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
    parallelism: int | None = None,
    ttl_seconds_after_finished: int | None = None,
    labels: Mapping[str, str] | None = None,
    imports: Iterable[str] = (),
    route: Callable[[str], JSONObject | None] | None = None,
    validate: bool = True,
) -> JSONObject:
    """The manifest; `spec.imports` are `imports` and the modules that registered the tasks
    of `canvas` under names that are not their import paths (`@task(name="add")`). `route`
    gives the options of the queue a task name is routed to (Celery's `task_routes`), which
    go under the task's own. Validated unless `validate` is false (for a caller that compiles
    it next anyway: `check_call`)."""
    if route is not None:
        canvas = _routed(canvas, route)
    metadata: JSONObject = {"name": name} if name is not None else {"generateName": f"{slug(label)}-"}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = json_at(dict(labels), "metadata.labels")
    spec: JSONObject = {"canvas": canvas}
    args = list(args)
    if args:
        spec["args"] = json_at(args, "spec.args", wire=True)
    if kwargs:
        spec["kwargs"] = json_at(dict(kwargs), "spec.kwargs", wire=True)
    if code is not None:
        spec["code"] = normalize_code(code)
    if defaults:
        spec["defaults"] = normalize_options(defaults, "spec.defaults")
    if parallelism is not None:
        spec["parallelism"] = parallelism
    if ttl_seconds_after_finished is not None:
        spec["ttlSecondsAfterFinished"] = ttl_seconds_after_finished
    modules = list(dict.fromkeys([*imports, *_registering_modules(canvas)]))
    if modules:
        spec["imports"] = cast(JSON, modules)
    manifest: JSONObject = {"apiVersion": API_VERSION, "kind": "Workflow", "metadata": metadata, "spec": spec}
    if validate:
        validate_manifest(manifest)
    return manifest


_MAP_FORMS = ("map", "starmap", "chunks")
_NOT_CANVAS = ("args", "kwargs", "items", "options")  # data, never a canvas inside


def _tasks(canvas: JSONObject) -> Iterator[tuple[JSONObject, str]]:
    """Each task of `canvas`: the mapping its options belong to (for `map`, `starmap` and
    `chunks`, the form's own mapping, not the inner `{task, items}`) and the task's name.
    No recursion: a deep canvas must not hit the recursion limit here."""
    stack: list[JSON] = [canvas]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            inner = next((value[form] for form in _MAP_FORMS if form in value), value)
            name = inner.get("task") if isinstance(inner, dict) else None
            if isinstance(name, str):
                yield value, name
            stack.extend(item for key, item in value.items() if key not in (*_NOT_CANVAS, *_MAP_FORMS))
        elif isinstance(value, list):
            stack.extend(value)


def _routed(canvas: JSONObject, route: Callable[[str], JSONObject | None]) -> JSONObject:
    """`canvas` with each task's routed queue options merged under its own options."""
    canvas = copy.deepcopy(canvas)
    for holder, name in list(_tasks(canvas)):
        routed = route(name)
        if routed:
            own = holder.get("options")
            holder["options"] = merge_options(routed, own if isinstance(own, dict) else None)
    return canvas


def _registering_modules(canvas: JSONObject) -> list[str]:
    """The modules to import in a task pod so that each task of `canvas` is found: those that
    registered a task under a name that is not an import path (`sum-of-two-numbers`). A name
    in the form of one (`conftasks.add`) is followed as a path, even when a module here
    registered a stand-in under it; a dotted name that is no real path needs the app's
    `include` or `imports`, as a Celery worker does."""
    modules = {
        module
        for _, name in _tasks(canvas)
        if not is_import_path(name) and (module := registered_module(name)) is not None
    }
    return sorted(modules)


def validate_manifest(manifest: Mapping[str, Any]) -> None:
    """InvalidWorkflow, with field paths, unless `manifest` is a valid Workflow."""
    from kubecanvas.check import checked_workflow  # pydantic only when building

    checked_workflow(manifest)


def check_call(manifest: Mapping[str, Any]) -> Graph:
    """`manifest` is about to run (a call, not a manifest written for later): its graph;
    InvalidWorkflow (field paths) unless it is valid, TaskArgumentsError unless its tasks
    registered here (`@task`) can take the arguments it gives them."""
    from kubecanvas.check import checked_workflow

    spec = manifest.get("spec") or {}
    graph = checked_workflow(manifest).graph
    check_arguments(graph, spec.get("args") or [], spec.get("kwargs") or {})
    return graph


def check_arguments(graph: Graph, spec_args: list[Any], spec_kwargs: Mapping[str, Any]) -> None:
    """TaskArgumentsError naming each task (by field path) whose function, registered in this
    process by `@task`, cannot take the arguments its call will have: its own, its parent's
    result before them (one value), the workflow's call-time arguments. As Celery's
    `apply_async` checks the first task of a call, but for every task known here; tasks only
    named (`signature("mod.fn")`) are checked where they run, never imported to be checked."""
    import inspect

    from kubecanvas.execution.task_import import registered_task
    from kubecanvas.graph.arguments import build_call

    placeholders = {node.id: None for node in graph.nodes}
    problems = []
    for node in graph.nodes:
        task = registered_task(node.task)
        if task is None or node.call != "call" or (node.input is not None and node.input.kind == "errback"):
            continue  # map/starmap items and errbacks' inputs are checked when they run
        function = getattr(task, "__wrapped__", task)
        try:
            parameters = list(inspect.signature(function).parameters.values())
        except (TypeError, ValueError):  # a builtin without a signature: nothing to check
            continue
        if getattr(task, "bind", False):
            parameters = parameters[1:]  # `self`, the task
        call = build_call(node, placeholders, tuple(spec_args), spec_kwargs)
        try:
            inspect.Signature(parameters).bind(*call.args, **call.kwargs)
        except TypeError as error:
            taken = f"{len(call.args)} positional argument{'s' if len(call.args) != 1 else ''}"
            keywords = f" and keywords {sorted(call.kwargs)}" if call.kwargs else ""
            problems.append(
                Problem(
                    node.path,
                    f"{node.task}{inspect.Signature(parameters)} cannot take {taken}{keywords}: {error}",
                )
            )
    if problems:
        raise TaskArgumentsError(problems)


def slug(label: str) -> str:
    """A DNS-label-safe piece of a name: `conftasks.add_all` -> `add-all`."""
    text = re.sub(r"[^a-z0-9-]+", "-", label.rsplit(".", 1)[-1].lower()).strip("-")
    return text[:40].rstrip("-") or "workflow"


def unique_name(label: str) -> str:
    """A fresh Workflow name, like the task ids Celery makes for each `apply_async`."""
    import uuid  # only submitters need it; task pods should not pay for importing it

    return f"{slug(label)}-{uuid.uuid4().hex[:10]}"
