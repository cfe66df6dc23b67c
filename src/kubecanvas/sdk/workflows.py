"""Between SDK objects and Workflow documents, both ways.

`to_workflow(canvas, ...)` writes a manifest; `from_canvas`, `from_workflow` and
`load_workflow` read one back into signatures, chains, groups... Reading keeps the
structure as written (nested chains stay nested) so that, for every valid canvas
mapping `m` in normal form, `from_canvas(m).to_canvas() == m`. Normal form leaves out
empty `args`, `kwargs`, `options`, `link`, `linkError` and `immutable: false`, and
spells lists of callbacks as lists; `to_canvas` always writes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

from kubecanvas._kits.jsonvalues import JSON, JSONObject
from kubecanvas.errors import InvalidWorkflow, Problem
from kubecanvas.sdk.call_options import normalize_code, normalize_options
from kubecanvas.sdk.canvas import Canvas
from kubecanvas.sdk.composition import chain, chord, chunks, group, xmap, xstarmap
from kubecanvas.sdk.manifest import validate_manifest
from kubecanvas.sdk.signatures import Signature

__all__ = ["WorkflowDefinition", "from_canvas", "from_workflow", "load_workflow", "to_workflow"]


def to_workflow(
    canvas: Canvas,
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
) -> dict[str, Any]:
    """The validated Workflow manifest of `canvas` (same as `canvas.to_workflow(...)`)."""
    return canvas.to_workflow(
        name,
        namespace=namespace,
        code=code,
        args=args,
        kwargs=kwargs,
        defaults=defaults,
        parallelism=parallelism,
        ttl_seconds_after_finished=ttl_seconds_after_finished,
        labels=labels,
    )


@dataclass
class WorkflowDefinition:
    """A Workflow read back: its canvas as SDK objects and the rest of its spec."""

    canvas: Canvas
    name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    args: tuple[JSON, ...] = ()
    kwargs: dict[str, JSON] = field(default_factory=dict)
    code: JSONObject | None = None
    defaults: JSONObject | None = None
    parallelism: int | None = None
    ttl_seconds_after_finished: int | None = None
    revoke: bool = False

    def to_workflow(self) -> dict[str, Any]:
        """The manifest again (a normal-form manifest comes back unchanged)."""
        manifest = self.canvas.to_workflow(
            self.name,
            namespace=self.namespace,
            code=self.code,
            args=self.args,
            kwargs=self.kwargs,
            defaults=self.defaults,
            parallelism=self.parallelism,
            ttl_seconds_after_finished=self.ttl_seconds_after_finished,
            labels=self.labels,
        )
        if self.revoke:
            manifest["spec"]["revoke"] = True
        return manifest


def from_canvas(mapping: Mapping[str, Any]) -> Canvas:
    """SDK objects from a canvas mapping (the `spec.canvas` of a Workflow).

    Raises InvalidWorkflow, with paths starting at `canvas`, for an invalid mapping.
    """
    from kubecanvas.check import checked_spec  # pydantic only when reading

    checked_spec({"canvas": mapping}, path="")
    return _read(mapping, "canvas")


def from_workflow(source: Mapping[str, Any] | str) -> WorkflowDefinition:
    """A Workflow manifest, as a mapping or YAML text, read into SDK objects."""
    document: Any = source
    if isinstance(source, str):
        import yaml  # only readers of YAML text pay for it

        from kubecanvas._kits.kube_yaml import load_all  # read as kubectl reads it

        try:
            documents = load_all(source)
        except yaml.YAMLError as error:
            raise InvalidWorkflow([Problem("", f"not valid YAML: {error}")]) from None
        if len(documents) != 1:
            raise InvalidWorkflow([Problem("", f"expected one Workflow document, found {len(documents)}")])
        document = documents[0]
    validate_manifest(document)
    metadata = document.get("metadata") or {}
    spec = document["spec"]
    defaults = spec.get("defaults")
    code = spec.get("code")
    ttl = _get(spec, "ttlSecondsAfterFinished", "ttl_seconds_after_finished")
    return WorkflowDefinition(
        canvas=_read(spec["canvas"], "spec.canvas"),
        name=metadata.get("name"),
        namespace=metadata.get("namespace"),
        labels=dict(metadata["labels"]) if metadata.get("labels") else None,
        args=tuple(spec.get("args") or ()),
        kwargs=dict(spec.get("kwargs") or {}),
        code=normalize_code(code) if code is not None else None,
        defaults=normalize_options(defaults, "spec.defaults") if defaults is not None else None,
        parallelism=spec.get("parallelism"),
        ttl_seconds_after_finished=ttl,
        revoke=bool(spec.get("revoke", False)),
    )


def load_workflow(path: str | PathLike[str]) -> WorkflowDefinition:
    """Read a Workflow YAML file."""
    with open(path, encoding="utf-8") as file:
        return from_workflow(file.read())


def _get(mapping: Mapping[str, Any], camel: str, snake: str) -> Any:
    """The model accepts both spellings (populate_by_name); the YAML uses camelCase."""
    return mapping.get(camel, mapping.get(snake))


def _read(raw: Any, path: str) -> Canvas:
    """One canvas mapping (already validated) as an SDK object, structure kept as written."""
    if not isinstance(raw, Mapping):
        raise InvalidWorkflow([Problem(path, f"a canvas must be a mapping, not {raw!r}")])
    canvas: Canvas
    if "task" in raw:
        canvas = Signature(
            raw["task"], raw.get("args") or (), raw.get("kwargs") or {}, immutable=bool(raw.get("immutable"))
        )
    elif "chain" in raw:
        canvas = chain()
        canvas.tasks = [_read(item, f"{path}.chain[{i}]") for i, item in enumerate(raw["chain"])]
    elif "group" in raw:
        canvas = group()
        canvas.tasks = [_read(item, f"{path}.group[{i}]") for i, item in enumerate(raw["group"])]
    elif "chord" in raw:
        parts = raw["chord"]
        canvas = chord([])
        canvas.tasks = [_read(item, f"{path}.chord.header[{i}]") for i, item in enumerate(parts["header"])]
        canvas.body = _read(parts["body"], f"{path}.chord.body")
    elif "map" in raw:
        canvas = xmap(raw["map"]["task"], raw["map"]["items"])
    elif "starmap" in raw:
        canvas = xstarmap(raw["starmap"]["task"], raw["starmap"]["items"])
    elif "chunks" in raw:
        parts = raw["chunks"]
        canvas = chunks(parts["task"], parts["items"], parts["size"])
    else:
        raise InvalidWorkflow([Problem(path, f"not a canvas: {dict(raw)!r}")])
    if raw.get("options"):
        canvas.options = normalize_options(raw["options"], f"{path}.options")
    canvas.callbacks = [_read(item, f"{path}.link[{i}]") for i, item in enumerate(_listed(raw.get("link")))]
    errbacks = _listed(_get(raw, "linkError", "link_error"))
    canvas.errbacks = [_read(item, f"{path}.linkError[{i}]") for i, item in enumerate(errbacks)]
    return canvas


def _listed(value: Any) -> list[Any]:
    """`link: {task: ...}` means `link: [{task: ...}]`, as in the model."""
    if value is None:
        return []
    return [value] if isinstance(value, Mapping) else list(value)
