"""What every canvas has: options, `link` / `link_error` callbacks, `|`, and the ways
to turn it into a Workflow (`to_canvas`, `to_workflow`) or run it (`apply_async`,
`delay`, `apply`).

Canvases are mutable, as Celery's are: `set`, `link` and `link_error` change the
canvas in place, and `clone` is how to get an independent copy.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas._kits.wirevalues import to_wire
from kubecanvas.canvas.merging import merge_options
from kubecanvas.errors import InvalidWorkflow, NotJSONError
from kubecanvas.sdk.call_options import json_at, normalize_options
from kubecanvas.sdk.calling import app_imports, queue_options, routed_queue
from kubecanvas.sdk.manifest import build_manifest, check_call, unique_name
from kubecanvas.sdk.task_names import task_name_problem

if TYPE_CHECKING:
    from kubecanvas.sdk.composition import chain

__all__ = ["Canvas", "as_canvas", "emit_task_name", "emit_value"]

_C = TypeVar("_C", bound="Canvas")


class Canvas(ABC):
    """The base of signatures, chains, groups, chords, maps, starmaps and chunks."""

    options: JSONObject
    callbacks: list[Canvas]
    errbacks: list[Canvas]

    __hash__: ClassVar[None] = None  # type: ignore[assignment]  # mutable, compared by value

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = {}
        self.callbacks = []
        self.errbacks = []
        if options:
            self.set(**options)

    # -- options and callbacks -------------------------------------------------------

    def set(self, immutable: bool | None = None, **options: Any) -> Self:
        """Set options in place, over the ones already set, field by field; returns self.

        `link=` and `link_error=` add callbacks, as Celery's options do.
        """
        if immutable is not None:
            self._set_immutable(immutable)
        callbacks = options.pop("link", None)
        errbacks = options.pop("link_error", None)
        if options:
            self.options = merge_options(self.options, normalize_options(queue_options(options)))
        for callback in _one_or_many(callbacks):
            self.link(callback)
        for errback in _one_or_many(errbacks):
            self.link_error(errback)
        return self

    def _set_immutable(self, immutable: bool) -> None:
        raise TypeError(
            f"immutable= applies to signatures (and to every member of a group), not to a {self._kind}"
        )

    def link(self, callback: Canvas | Mapping[str, Any]) -> Canvas:
        """Run `callback` with this canvas's result when it succeeds. Returns the
        callback (as Celery does, for `reduce`); a side branch, never the result."""
        canvas = as_canvas(callback)
        if canvas not in self.callbacks:
            self.callbacks.append(canvas)
        return canvas

    def link_error(self, errback: Canvas | Mapping[str, Any]) -> Canvas:
        """Run `errback` when this canvas fails. Returns the errback, as Celery does;
        use `on_error` to keep chaining on this canvas."""
        canvas = as_canvas(errback)
        if canvas not in self.errbacks:
            self.errbacks.append(canvas)
        return canvas

    def on_error(self, errback: Canvas | Mapping[str, Any]) -> Self:
        """`link_error` that returns this canvas: `add.s(2, 2).on_error(log.s())`."""
        self.link_error(errback)
        return self

    def clone(
        self, args: Iterable[Any] | None = None, kwargs: Mapping[str, Any] | None = None, **options: Any
    ) -> Self:
        """An independent copy, with `options` set on it."""
        if args or kwargs:
            raise TypeError(
                f"partial arguments cannot be given to a {self._kind}: pass them when it starts "
                "(to_workflow(args=...), apply_async(args)), and they go to its first task(s)"
            )
        twin = self._copy()
        if options:
            twin.set(**options)
        return twin

    # -- composition ------------------------------------------------------------------

    def __or__(self, other: Canvas) -> chain:
        """`a | b` is `chain(a, b)`; plain chains on either side are extended, not nested."""
        if not isinstance(other, Canvas):
            return NotImplemented
        from kubecanvas.sdk.composition import chain  # composition builds on this module

        left = self.tasks if isinstance(self, chain) and self._plain() else [self]
        right = other.tasks if isinstance(other, chain) and other._plain() else [other]
        return chain(*left, *right)

    def _plain(self) -> bool:
        """No options and no callbacks: such a chain can be spliced into another."""
        return not (self.options or self.callbacks or self.errbacks)

    # -- the Workflow -----------------------------------------------------------------

    def to_canvas(self) -> dict[str, Any]:
        """The canvas as the Workflow's YAML mapping, in normal form (empty parts left out)."""
        return self._emit("canvas", strict=True)

    def to_workflow(
        self,
        name: str | None = None,
        *,
        namespace: str | None = None,
        code: Mapping[str, Any] | None = None,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        defaults: Mapping[str, Any] | None = None,
        parallelism: int | None = None,
        ttl_seconds_after_finished: int | None = None,
        labels: Mapping[str, str] | None = None,
        imports: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """A complete, validated Workflow manifest (`kubectl apply -f` ready).

        `args` / `kwargs` go to the first task(s), like calling the canvas in Celery.
        Without a `name` the manifest gets a `generateName`. Raises InvalidWorkflow
        with the same field paths `kubectl apply` would report. `imports` (`spec.imports`)
        default to the current app's `imports` and `include` settings, as a Celery worker
        imports them at start.
        """
        return self._manifest(
            name,
            validate=True,
            namespace=namespace,
            code=code,
            args=args,
            kwargs=kwargs,
            defaults=defaults,
            parallelism=parallelism,
            ttl_seconds_after_finished=ttl_seconds_after_finished,
            labels=labels,
            imports=imports,
        )

    def _manifest(
        self, name: str | None, *, validate: bool, imports: Iterable[str] | None = None, **fields: Any
    ) -> JSONObject:
        """The manifest `to_workflow` gives; a call's is not validated here (`validate`
        false): `check_call` validates and compiles it once, as it will run (a canvas of
        many items takes seconds to compile)."""
        return build_manifest(
            self._emit("spec.canvas", strict=True),
            name=name,
            label=self._label(),
            imports=app_imports() if imports is None else imports,
            route=_routed_options,
            validate=validate,
            **fields,
        )

    # -- running ----------------------------------------------------------------------

    def apply_async(
        self,
        args: Iterable[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        *,
        namespace: str | None = None,
        name: str | None = None,
        code: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        """Send the canvas where calls go (`sdk/calling.py`): submitted to the
        cluster as a Workflow (an AsyncResult), or run to its end on the local runner or in
        this process (an EagerResult). `options` are call-time options: they win over the
        canvas's."""
        from kubecanvas.sdk.calling import calling_backend

        # Celery's publish retry: about sending the call, not the task (client/publishing.py).
        retry, retry_policy = bool(options.pop("retry", True)), options.pop("retry_policy", None)
        manifest = self._with_options(options)._manifest(
            name or unique_name(self._label()),
            validate=False,
            namespace=namespace,
            code=code,
            args=args or (),
            kwargs=kwargs,
        )
        # Imported at call time: the cluster client (Kubernetes, Redis) and the runners are
        # heavy, and task pods import the SDK with their tasks but never submit.
        backend = calling_backend()
        if backend == "cluster":
            from kubecanvas.client import submit

            # Checked as it will be created (with the client's default spec.code, namespace).
            return submit(
                manifest, namespace=namespace, retry=retry, retry_policy=retry_policy, check=check_call
            )
        check_call(manifest)
        if backend == "eager":
            from kubecanvas.local.eager import run_eagerly

            return run_eagerly(manifest)
        from kubecanvas.local.calling import run_locally

        return run_locally(manifest)

    def delay(self, *args: Any, **kwargs: Any) -> Any:
        """`apply_async` with star arguments."""
        return self.apply_async(args, kwargs)

    def __invert__(self) -> Any:
        """`~sig`: submit and wait for the result (Celery's `sig.delay().get()`)."""
        return self.delay().get()

    def apply(
        self, args: Iterable[Any] | None = None, kwargs: Mapping[str, Any] | None = None, **options: Any
    ) -> Any:
        """Run the whole canvas here, in this process, with the local eager runner."""
        # Imported at call time, as the cluster client is: only eager callers pay for it.
        from kubecanvas.local.eager import run_eagerly

        manifest = self._with_options(options)._manifest(
            unique_name(self._label()), validate=False, args=args or (), kwargs=kwargs
        )
        check_call(manifest)
        return run_eagerly(manifest)

    def _with_options(self, options: Mapping[str, Any]) -> Canvas:
        return self.clone(**options) if options else self

    # -- subclasses -------------------------------------------------------------------

    _kind: ClassVar[str] = "canvas"

    @abstractmethod
    def _emit(self, path: str, *, strict: bool) -> JSONObject:
        """The YAML mapping; with `strict`, InvalidWorkflow (at `path`) for what the
        Workflow cannot hold (values that are not JSON, unimportable task names)."""

    @abstractmethod
    def _copy(self) -> Self:
        """A deep copy of the structure (arguments themselves are shared, as in Celery)."""

    @abstractmethod
    def _label(self) -> str:
        """A short name for generated Workflow names: the first task's function name."""

    def _emit_common(self, out: JSONObject, path: str, *, strict: bool) -> JSONObject:
        if self.options:
            out["options"] = copy.deepcopy(self.options)
        if self.callbacks:
            out["link"] = [c._emit(f"{path}.link[{i}]", strict=strict) for i, c in enumerate(self.callbacks)]
        if self.errbacks:
            out["linkError"] = [
                e._emit(f"{path}.linkError[{i}]", strict=strict) for i, e in enumerate(self.errbacks)
            ]
        return out

    def _copy_common(self, twin: _C) -> _C:
        """Copy what every canvas has (options, callbacks) onto `twin`."""
        twin.options = copy.deepcopy(self.options)
        twin.callbacks = [callback._copy() for callback in self.callbacks]
        twin.errbacks = [errback._copy() for errback in self.errbacks]
        return twin

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Canvas):
            return NotImplemented
        return type(self) is type(other) and self._emit("", strict=False) == other._emit("", strict=False)


def as_canvas(value: object) -> Canvas:
    """A canvas from a canvas or its YAML mapping (Celery's `maybe_signature`)."""
    if isinstance(value, Canvas):
        return value
    if isinstance(value, Mapping):
        from kubecanvas.sdk.workflows import from_canvas  # the reader builds on this module

        return from_canvas(value)
    raise TypeError(f"expected a signature or canvas (such as add.s(2)), not {value!r}")


def maybe_signature(value: object, app: object = None, clone: bool = False) -> Canvas | None:
    """Celery's `maybe_signature`: None stays None, a canvas is itself (a copy with `clone`),
    a mapping is read as a canvas (the YAML form a Workflow and `to_canvas()` hold). `app` is
    accepted for Celery's signature and means nothing here (no app to bind)."""
    if value is None:
        return None
    canvas = as_canvas(value)
    return canvas.clone() if clone else canvas


def _one_or_many(value: object) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Canvas | Mapping):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, str):
        return list(value)
    return [value]


def emit_value(value: Any, path: str, *, strict: bool) -> JSON:
    """`value` as JSON (tuples become lists, Celery's extensions enveloped); not JSON:
    InvalidWorkflow when strict."""
    if strict:
        return json_at(value, path, wire=True)
    try:
        return to_wire(value)
    except NotJSONError:
        result: JSON = value  # compared, never sent
        return result


def emit_task_name(name: str, path: str, *, strict: bool) -> str:
    if strict:
        problem = task_name_problem(name, path)
        if problem is not None:
            raise InvalidWorkflow([problem])
    return name


def _routed_options(task_name: str) -> JSONObject | None:
    """The options of the queue Celery's `task_routes` sends `task_name` to (None: no route)."""
    queue = routed_queue(task_name)
    if queue is None:
        return None
    where = f"app.conf.task_routes[{task_name!r}]"
    return normalize_options(queue_options({"queue": queue}, where), where)
