"""The Workflow document (`kubecanvas.io/v1alpha1`), as pydantic models.

A Canvas is exactly one of seven mappings, told apart by the key it carries:
`task` (a signature), `chain`, `group`, `chord`, `map`, `starmap`, `chunks`.
See ../shared/canvas-semantics.md, section 1.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kubecanvas._kits.suggestions import did_you_mean
from kubecanvas.canvas.base import JSONValue, NotBool, Strict
from kubecanvas.canvas.names import MODULE_NAME, TASK_NAME, is_import_path
from kubecanvas.canvas.task_options import TaskOptions

__all__ = [
    "CANVAS_FORMS",
    "Canvas",
    "Chain",
    "Chord",
    "ChordParts",
    "Chunks",
    "ChunksParts",
    "CodeSource",
    "Group",
    "MapParts",
    "MapTask",
    "Metadata",
    "Signature",
    "Starmap",
    "Workflow",
    "WorkflowSpec",
]

CANVAS_FORMS = ("task", "chain", "group", "chord", "map", "starmap", "chunks")

IMPORTS_GIVEN = "imports_given"
"""The validation context's key (`canvas.validation`): whether the spec has `imports`."""


def _other_names_need_imports(value: str, info: ValidationInfo) -> str:
    """A name that is not an import path (`add`, `sum-of-two-numbers`) can only be one a
    module registers (`@task(name=...)`): with no `spec.imports`, none ever will."""
    if not is_import_path(value) and not (info.context or {}).get(IMPORTS_GIVEN, False):
        raise PydanticCustomError(
            "plain_task_name",
            "'{name}' is not a dotted path (module.function); a task registered under another "
            "name needs the module that registers it in spec.imports",
            {"name": value},
        )
    return value


TaskName = Annotated[
    str,
    Field(
        max_length=512,  # no min_length: the pattern's message says what a task name looks like
        pattern=TASK_NAME,
        description="dotted path of an importable function, such as 'conftasks.add', or the "
        "name a module of spec.imports registers a task under (`@task(name=...)`)",
    ),
    AfterValidator(_other_names_need_imports),
]
ModuleName = Annotated[str, Field(max_length=512, pattern=MODULE_NAME)]


def _one_or_many(value: Any) -> Any:
    """`link: {task: ...}` means the same as `link: [{task: ...}]`."""
    return [value] if isinstance(value, dict) else value


def _canvas_form(value: Any) -> str | None:
    if isinstance(value, dict):
        forms = [key for key in CANVAS_FORMS if key in value]
        if len(forms) == 1:
            return f"form:{forms[0]}"
    return None


def _check_canvas_shape(value: Any) -> Any:
    """Say clearly what is wrong when a mapping is not one of the canvas forms."""
    if not isinstance(value, dict):
        raise PydanticCustomError(
            "canvas_type",
            "a canvas must be a mapping with one of the keys {forms}, not {value}",
            {"forms": ", ".join(CANVAS_FORMS), "value": repr(value)},
        )
    forms = [key for key in CANVAS_FORMS if key in value]
    if len(forms) > 1:
        raise PydanticCustomError(
            "canvas_ambiguous",
            "a canvas is exactly one of {forms}, but this mapping has {found}",
            {"forms": ", ".join(CANVAS_FORMS), "found": " and ".join(repr(key) for key in forms)},
        )
    if not forms:
        hints = "".join(did_you_mean(str(key), CANVAS_FORMS) for key in value)
        keys = ", ".join(repr(key) for key in value) or "no keys"
        raise PydanticCustomError(
            "canvas_form_missing",
            "a canvas needs one of the keys {forms}; found {keys}{hints}",
            {"forms": ", ".join(CANVAS_FORMS), "keys": keys, "hints": hints},
        )
    return value


class _Callbacks(Strict):
    """What every canvas may carry besides its own form."""

    options: TaskOptions | None = None
    link: Annotated[list[Canvas], BeforeValidator(_one_or_many)] = Field(default_factory=list)
    link_error: Annotated[list[Canvas], BeforeValidator(_one_or_many)] = Field(default_factory=list)

    # Canvases that are one task: theirs is the one options that may name a task's id.
    _one_task: ClassVar[bool] = False

    @field_validator("options")
    @classmethod
    def _task_id_names_one_task(cls, options: TaskOptions | None) -> TaskOptions | None:
        if options is not None and options.task_id is not None and not cls._one_task:
            raise PydanticCustomError(
                "task_id_place",
                "taskId is the id of one task: set it in a task's own options, not a {form}'s",
                {"form": cls.__name__.lower()},
            )
        return options


class Signature(_Callbacks):
    """One task call with partial arguments: `add.s(2)`, or `add.si(2)` when immutable."""

    _one_task = True

    task: TaskName
    args: list[JSONValue] = Field(default_factory=list)
    kwargs: dict[str, JSONValue] = Field(default_factory=dict)
    immutable: bool = False


class Chain(_Callbacks):
    chain: Annotated[list[Canvas], Field(min_length=1)]


class Group(_Callbacks):
    group: list[Canvas]


class ChordParts(Strict):
    header: list[Canvas]
    body: Canvas


class Chord(_Callbacks):
    chord: ChordParts


class MapParts(Strict):
    task: TaskName
    items: list[JSONValue]


class MapTask(_Callbacks):
    """`tsum.map(items)`: one task that calls `tsum(item)` for each item."""

    _one_task = True

    map: MapParts


class Starmap(_Callbacks):
    """`add.starmap(items)`: one task that calls `add(*item)` for each item."""

    _one_task = True

    starmap: MapParts

    @field_validator("starmap")
    @classmethod
    def _items_are_argument_lists(cls, parts: MapParts) -> MapParts:
        _require_argument_lists(parts.items)
        return parts


class ChunksParts(Strict):
    task: TaskName
    items: list[JSONValue]
    size: Annotated[int, Field(gt=0), NotBool]

    @field_validator("items")
    @classmethod
    def _items_are_argument_lists(cls, items: list[Any]) -> list[Any]:
        _require_argument_lists(items)
        return items


class Chunks(_Callbacks):
    """`add.chunks(items, size)`: a group of starmap tasks, one per chunk."""

    chunks: ChunksParts


def _require_argument_lists(items: list[Any]) -> None:
    for index, item in enumerate(items):
        if not isinstance(item, list):
            raise PydanticCustomError(
                "starmap_item",
                "items[{index}] must be a list of arguments, not {item}",
                {"index": index, "item": repr(item)},
            )


Canvas: TypeAlias = Annotated[
    Annotated[Signature, Tag("form:task")]
    | Annotated[Chain, Tag("form:chain")]
    | Annotated[Group, Tag("form:group")]
    | Annotated[Chord, Tag("form:chord")]
    | Annotated[MapTask, Tag("form:map")]
    | Annotated[Starmap, Tag("form:starmap")]
    | Annotated[Chunks, Tag("form:chunks")],
    Discriminator(_canvas_form),
    BeforeValidator(_check_canvas_shape),
]


class ConfigMapRef(Strict):
    name: Annotated[str, Field(min_length=1, max_length=253)]


class GitSource(Strict):
    url: Annotated[str, Field(min_length=1)]
    ref: str | None = None
    path: str | None = None


class PipSource(Strict):
    packages: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    index_url: str | None = None
    find_links: list[str] | None = None
    no_index: bool = False  # install only from find_links (air-gapped clusters, wheel directories)
    # Hosts served over plain HTTP that pip may use (its --trusted-host): an in-cluster index.
    trusted_hosts: list[Annotated[str, Field(min_length=1)]] | None = None


class CodeSource(Strict):
    """Where the runtime finds task code. Exactly one of the four."""

    config_map: ConfigMapRef | None = None
    git: GitSource | None = None
    pip: PipSource | None = None
    path: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> CodeSource:
        given = [name for name in ("configMap", "git", "pip", "path") if self._get(name) is not None]
        if len(given) != 1:
            raise PydanticCustomError(
                "code_source",
                "give exactly one of configMap, git, pip or path (got {given})",
                {"given": ", ".join(given) or "none"},
            )
        return self

    def _get(self, alias: str) -> object:
        return {"configMap": self.config_map, "git": self.git, "pip": self.pip, "path": self.path}[alias]


class WorkflowSpec(Strict):
    canvas: Canvas
    args: list[JSONValue] = Field(default_factory=list)
    kwargs: dict[str, JSONValue] = Field(default_factory=dict)
    code: CodeSource | None = None
    defaults: TaskOptions | None = None
    parallelism: Annotated[int, Field(ge=1, le=100_000), NotBool] = 50
    ttl_seconds_after_finished: Annotated[int, Field(ge=0), NotBool] | None = 86400
    revoke: bool = False
    imports: Annotated[list[ModuleName], Field(max_length=100)] = Field(default_factory=list)
    """Modules the task runtime imports before it finds a task by name (Celery's `imports`
    and `include`): what makes a task registered under an explicit `name=` findable."""

    @field_validator("defaults")
    @classmethod
    def _no_task_id_for_every_task(cls, defaults: TaskOptions | None) -> TaskOptions | None:
        if defaults is not None and defaults.task_id is not None:
            raise PydanticCustomError(
                "task_id_place", "taskId is the id of one task: set it in that task's own options", {}
            )
        return defaults


DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class Metadata(Strict):
    """The parts of ObjectMeta kubecanvas reads; the rest is the API server's business."""

    model_config = Strict.model_config | {"extra": "allow"}
    accepts_unknown_keys = True  # uid, resourceVersion, managedFields, ...

    name: Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)] | None = None
    generate_name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class Workflow(Strict):
    api_version: Literal["kubecanvas.io/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["Workflow"]
    metadata: Metadata = Field(default_factory=Metadata)
    spec: WorkflowSpec
    status: dict[str, Any] | None = None


for _model in (_Callbacks, Signature, Chain, Group, ChordParts, Chord, MapTask, Starmap, Chunks):
    _model.model_rebuild()
