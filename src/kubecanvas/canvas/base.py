"""The base of every Workflow model: strict, immutable, spelt the way the YAML is.

Unknown keys are refused here, by each mapping, with a hint when one is close to a
known key, because a misspelt option that is silently dropped is the worst kind of
Workflow bug.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from kubecanvas._kits.jsonvalues import JSON, to_json_value
from kubecanvas._kits.suggestions import did_you_mean
from kubecanvas.errors import NotJSONError


class Strict(BaseModel):
    """Refuses unknown keys (with a hint) and is spelt in camelCase on the wire."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
    )
    accepts_unknown_keys: ClassVar[bool] = False  # e.g. metadata, where the API server adds keys

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and not cls.accepts_unknown_keys:
            known = {field.alias or name for name, field in cls.model_fields.items()}
            unknown = [key for key in data if key not in known and key not in cls.model_fields]
            if unknown:
                described = ", ".join(f"{key!r}{did_you_mean(str(key), known)}" for key in unknown)
                allowed = ", ".join(sorted(known))
                noun = "field" if len(unknown) == 1 else "fields"
                raise PydanticCustomError(
                    "unknown_field",
                    "unknown {noun} {described}; allowed here: {allowed}",
                    {"noun": noun, "described": described, "allowed": allowed},
                )
        return data


def _json_value(value: Any) -> JSON:
    try:
        return to_json_value(value)
    except NotJSONError as error:
        where = f" (at {error.path})" if error.path else ""
        kind = type(error.value).__name__
        raise PydanticCustomError(
            "not_json",
            "{value} is {kind}, not a JSON value{where}; quote it if you meant a string",
            {"value": _short(repr(error.value)), "kind": f"{_article(kind)} {kind}", "where": where},
        ) from None


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _refuse_bool(value: Any) -> Any:
    """pydantic reads `true` as 1 where a number is expected; a Workflow never means that."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "bool_not_number", "must be a number, not {value}", {"value": str(value).lower()}
        )
    return value


NotBool = BeforeValidator(_refuse_bool)
"""For numeric fields: `countdown: true` is a mistake, not one second."""


JSONValue = Annotated[Any, AfterValidator(_json_value)]
"""Any JSON value: YAML dates, sets and the like are refused with a clear message."""
