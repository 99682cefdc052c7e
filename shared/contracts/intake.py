"""Canonicalise a referral body the way Partner Center's binder reads it, before pydantic checks it.

Partner Center is ASP.NET Web API + OData (the swagger's `Swashbuckle.OData`, `Contracts.V3`
type names): member names bind case-insensitively, JSON strings bind to numbers and booleans,
enum names bind in any case, and nulls mean "not given". Microsoft's own examples rely on it
(PascalCase consent keys and `"email": ""` in the 2024 create example, `"value": "10000"` in the
PATCH examples). So one walk over the body, guided by the request models:

* keys of known objects → the documented camelCase spelling (the wire keeps
  `consentToToShareInfoWithOthers`); unknown keys are left for pydantic to refuse with a
  did-you-mean;
* `""` and `null` in a known field, and `{}` where an array is expected → not given (dropped);
  an array entry without its identifying value (a `Duns` id of `""`) → a placeholder, dropped;
* numeric strings → numbers, "true"/"false" → booleans, integers → strings where text is
  expected, enum names → their documented case, ISO codes upper-cased, e-mails trimmed,
  timestamps without an offset → UTC;
* anywhere in the body, also in free-form parts: a non-finite number (`1e400` parses to inf) or a
  string that is not valid Unicode (a lone surrogate from `\\ud800`) is a problem.

The same walk in *tolerant* mode is the read-side projection (`project_onto_request`): it drops
whatever cannot be part of a create body instead of reporting it, and never raises.
"""

from __future__ import annotations

import math
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from shared.contracts.errors import FieldError, json_pointer
from shared.contracts.formats import (
    Normalise,
    boolean_from_text,
    normalise_text,
    number_from_text,
)
from shared.contracts.referral import ProfileId, ReferralRequest

MAX_FREE_DEPTH: Final = 64  # free-form parts deeper than this are not walked (tolerant: dropped)

# Array entries that mean nothing without one member: Partner Center writes
# `{"profileType": "Duns", "id": ""}` as a placeholder when it has not matched the customer.
_PLACEHOLDER_UNLESS: Final[dict[type[BaseModel], str]] = {ProfileId: "id"}

Kind = Literal["model", "list", "text", "number", "bool", "enum", "free"]
# Where the walk is: (parent, member name or index), built in O(1) per step and turned into a
# JSON Pointer only when a problem is reported (most bodies have none).
Path = tuple[Any, str | int] | None


@dataclass(frozen=True, slots=True)
class Shape:
    """What a position in the body holds, as intake needs to know it."""

    kind: Kind
    model: type[BaseModel] | None = None
    item: Shape | None = None
    values: tuple[str, ...] = ()
    marker: Normalise | None = None


@dataclass(frozen=True, slots=True)
class ModelTable:
    fields: dict[str, Shape]
    by_lower: dict[str, str]
    server_written: frozenset[str]
    allows_extra: bool


@dataclass(slots=True)
class _Walk:
    tolerant: bool
    problems: list[FieldError] = field(default_factory=list)

    def report(self, path: Path, code: str, message: str) -> None:
        parts: list[str | int] = []
        while path is not None:
            path, element = path
            parts.append(element)
        parts.reverse()
        pointer = json_pointer(parts)
        self.problems.append(FieldError(path=pointer, code=code, message=message))


_DROP: Final = object()  # "not given": the walker leaves the member out


@dataclass(frozen=True, slots=True)
class Normalised:
    body: Any  # the canonical body (a dict when the input was an object)
    problems: tuple[FieldError, ...]


def normalise_request(data: Any) -> Normalised:
    """Intake: canonicalise a decoded message body; report what no binder could read."""
    walk = _Walk(tolerant=False)
    body = _value(data, _REQUEST, None, walk)
    return Normalised(body=None if body is _DROP else body, problems=tuple(walk.problems))


def normalise_as(data: Any, model: type[BaseModel]) -> Normalised:
    """Intake for another message model (the update message): the same walk, rooted at
    `model` instead of the create request."""
    walk = _Walk(tolerant=False)
    body = _value(data, Shape("model", model=model), None, walk)
    return Normalised(body=None if body is _DROP else body, problems=tuple(walk.problems))


def project_onto_request(value: Any) -> Any:
    """Read side: the create body a referral read back from Partner Center stands for.

    Keeps only Microsoft's writable request properties, canonicalised as on intake; drops
    server-written fields and empties (`size: ""`, Duns placeholders, `externalReferenceId: ""`,
    nulls), read-only and unknown fields, and anything that could not be part of a create body.
    Never raises; a non-object is returned unchanged. The result is a valid create body whenever
    the referral was created from one.
    """
    if not isinstance(value, dict):
        return value
    projected = _value(value, _REQUEST, None, _Walk(tolerant=True))
    return {} if projected is _DROP else projected


# ---- the walk ---------------------------------------------------------------------------------


def _value(value: Any, shape: Shape, path: Path, walk: _Walk) -> Any:
    if value is None or (isinstance(value, str) and value == ""):
        return _DROP
    match shape.kind:
        case "text":
            if isinstance(value, str):
                return _text(value, shape, path, walk)
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value)  # Web API reads a JSON number into a string member
        case "model":
            if isinstance(value, dict) and shape.model is not None:
                return _object(value, shape.model, path, walk)
        case "list":
            if isinstance(value, dict) and not value:
                return _DROP  # `"ids": {}` in Microsoft's examples: an empty collection
            if isinstance(value, list) and shape.item is not None:
                return _array(value, shape.item, path, walk)
        case "number":
            if isinstance(value, str):
                number = number_from_text(value)
                if number is not None:
                    return number
            elif isinstance(value, float) and not math.isfinite(value):
                return _not_finite(path, walk)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                return value
        case "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str):
                flag = boolean_from_text(value)
                if flag is not None:
                    return flag
        case "enum":
            if isinstance(value, str):
                wanted = value.strip().lower()
                for canonical in shape.values:
                    if canonical.lower() == wanted:
                        return canonical
        case "free":
            return _free(value, path, walk, depth=0)
    # Not readable as this shape: intake leaves it for pydantic to name; the projection drops it.
    return _DROP if walk.tolerant else _free(value, path, walk, depth=0)


def _object(
    value: dict[str, Any], model: type[BaseModel], path: Path, walk: _Walk
) -> dict[str, Any]:
    table = model_table(model)
    out: dict[str, Any] = {}
    for key, item in value.items():
        # Known names are ASCII, so a key that matches one is valid text.
        name = key if key in table.fields else table.by_lower.get(key.lower())
        if name is None and not _is_unicode(key):
            if not walk.tolerant:
                walk.report(path, "invalid_unicode", "a member name is not valid Unicode text")
            continue
        if name is None:
            if walk.tolerant and (item is None or item == ""):
                continue
            if table.allows_extra or not walk.tolerant:
                extra = _free(item, (path, key), walk, depth=0)
                if extra is not _DROP:
                    out[key] = extra
            continue
        if walk.tolerant and name in table.server_written:
            continue
        child = _value(item, table.fields[name], (path, name), walk)
        if child is _DROP:
            continue
        if name in out:
            if out[name] != child and not walk.tolerant:
                walk.report(
                    (path, name),
                    "duplicate_field",
                    "is given twice with different values (member names match in any case)",
                )
            continue
        out[name] = child
    return out


def _array(value: list[Any], item: Shape, path: Path, walk: _Walk) -> list[Any]:
    needed = _PLACEHOLDER_UNLESS.get(item.model) if item.model is not None else None
    out: list[Any] = []
    for index, entry in enumerate(value):
        child = _value(entry, item, (path, index), walk)
        if child is _DROP:
            continue
        if needed is not None and isinstance(child, dict) and needed not in child:
            continue  # a placeholder entry: carries nothing
        out.append(child)
    return out


def _text(value: str, shape: Shape, path: Path, walk: _Walk) -> Any:
    if not _is_unicode(value):
        return _not_unicode(path, walk)
    if shape.marker is None:
        return value
    text = normalise_text(value, shape.marker)
    return _DROP if text == "" else text


def _free(value: Any, path: Path, walk: _Walk, *, depth: int) -> Any:
    """A part whose shape Microsoft leaves open: walked only for numbers and text no JSON
    encoder can send (and, in the projection, for nulls and empties)."""
    if depth > MAX_FREE_DEPTH:
        if walk.tolerant:
            return _DROP
        walk.report(path, "too_deep", "is nested too deeply")
        return None
    if isinstance(value, str):
        return value if _is_unicode(value) else _not_unicode(path, walk)
    if isinstance(value, float) and not math.isfinite(value):
        return _not_finite(path, walk)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not _is_unicode(key):
                if not walk.tolerant:
                    walk.report(path, "invalid_unicode", "a member name is not valid Unicode text")
                continue
            if walk.tolerant and (item is None or item == ""):
                continue
            child = _free(item, (path, key), walk, depth=depth + 1)
            if child is not _DROP:
                out[key] = child
        return out
    if isinstance(value, list):
        items = (_free(v, (path, i), walk, depth=depth + 1) for i, v in enumerate(value))
        return [v for v in items if v is not _DROP]
    return value


def _not_finite(path: Path, walk: _Walk) -> Any:
    if not walk.tolerant:
        walk.report(path, "not_finite", "must be a finite number")
    return _DROP


def _not_unicode(path: Path, walk: _Walk) -> Any:
    if not walk.tolerant:
        walk.report(path, "invalid_unicode", "is not valid Unicode text")
    return _DROP


def _is_unicode(text: str) -> bool:
    """False for strings no UTF-8 encoder can send (lone surrogates, e.g. from JSON '\\ud800')."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# ---- shapes from the request models -------------------------------------------------------------


@cache
def model_table(model: type[BaseModel]) -> ModelTable:
    fields = {name: _field_shape(info) for name, info in model.model_fields.items()}
    server_written = frozenset(
        name
        for name, info in model.model_fields.items()
        if isinstance(info.json_schema_extra, dict)
        and info.json_schema_extra.get("x-server-written")
    )
    return ModelTable(
        fields=fields,
        by_lower={name.lower(): name for name in fields},
        server_written=server_written,
        allows_extra=model.model_config.get("extra") == "allow",
    )


def _field_shape(info: FieldInfo) -> Shape:
    # pydantic unpacks a field's top-level Annotated[...] into `metadata`; look there too.
    shape = shape_of(info.annotation)
    marker = next((m for m in info.metadata if isinstance(m, Normalise)), None)
    if marker is None:
        return shape
    return Shape(shape.kind, shape.model, shape.item, shape.values, marker)


def shape_of(annotation: Any) -> Shape:
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *metadata = get_args(annotation)
        marker = next((m for m in metadata if isinstance(m, Normalise)), None)
        inner = shape_of(base)
        return Shape(inner.kind, inner.model, inner.item, inner.values, marker or inner.marker)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return shape_of(members[0])
        kinds = {shape_of(m).kind for m in members}
        return Shape("number") if kinds == {"number"} else Shape("free")
    if origin is list:
        (item,) = get_args(annotation) or (Any,)
        return Shape("list", item=shape_of(item))
    if origin is Literal:
        return Shape("enum", values=tuple(str(v) for v in get_args(annotation)))
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return Shape("model", model=annotation)
        if issubclass(annotation, bool):
            return Shape("bool")
        if issubclass(annotation, int | float):
            return Shape("number")
        if issubclass(annotation, str):
            return Shape("text")
    return Shape("free")


def request_shapes() -> Iterator[tuple[tuple[str, ...], type[BaseModel]]]:
    """Every request model with its path (array indices dropped), the root first."""
    stack: list[tuple[tuple[str, ...], type[BaseModel]]] = [((), ReferralRequest)]
    while stack:
        path, model = stack.pop(0)
        yield path, model
        for name, shape in model_table(model).fields.items():
            while shape.kind == "list" and shape.item is not None:
                shape = shape.item
            if shape.kind == "model" and shape.model is not None:
                stack.append(((*path, name), shape.model))


_REQUEST: Final = Shape("model", model=ReferralRequest)
