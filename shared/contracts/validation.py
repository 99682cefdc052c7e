"""Turn a decoded JSON value into a `ReferralRequest`, or a `ContractViolation` listing every
problem with its JSON Pointer, a stable code and a message that never quotes the input.

Shape and types are pydantic's job; the cross-field rules of the fact sheet (status table, what a
co-sell referral needs) run afterwards so that each gets its own pointer.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import Any, Final, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from shared.contracts.errors import ContractViolation, FieldError, json_pointer
from shared.contracts.referral import SERVER_FIELDS, ReferralRequest
from shared.contracts.status_rules import allowed_substatuses, is_valid_combination

# pydantic error type -> (our code, our message). Messages are ours so input never leaks.
_CODES: Final[dict[str, tuple[str, str]]] = {
    "missing": ("missing", "is required"),
    "extra_forbidden": ("unknown_field", "is not a field of this object"),
    "string_type": ("not_a_string", "must be a string"),
    "bool_type": ("not_a_boolean", "must be true or false"),
    "int_type": ("not_a_number", "must be a number"),
    "float_type": ("not_a_number", "must be a number"),
    "model_type": ("not_an_object", "must be a JSON object"),
    "model_attributes_type": ("not_an_object", "must be a JSON object"),
    "dict_type": ("not_an_object", "must be a JSON object"),
    "list_type": ("not_an_array", "must be a JSON array"),
    "string_too_short": ("too_short", "must not be empty"),
    "string_too_long": ("too_long", "is too long"),
    "string_pattern_mismatch": ("invalid_format", "has an invalid format"),
    "greater_than_equal": ("out_of_range", "must not be negative"),
    "finite_number": ("out_of_range", "must be a finite number"),
}


def validate_referral_request(data: object) -> ReferralRequest:
    """Validate a decoded message body. Raises `ContractViolation` and nothing else."""
    if not isinstance(data, dict):
        raise ContractViolation([FieldError(path="", code="not_an_object", message=_ROOT_MSG)])
    try:
        request = ReferralRequest.model_validate(data)
    except ValidationError as exc:
        raise ContractViolation(_field_errors(data, exc.errors(include_url=False))) from None
    problems = list(business_rule_problems(request))
    if problems:
        raise ContractViolation(problems)
    return request


_ROOT_MSG: Final = "the message body must be a JSON object (a referral)"


def business_rule_problems(request: ReferralRequest) -> Iterator[FieldError]:
    """Cross-field create rules of the fact sheet §5–6."""
    if not is_valid_combination(request.status, request.substatus):
        allowed = sorted(allowed_substatuses(request.status or ""))
        yield FieldError(
            path="/substatus",
            code="invalid_status_combination",
            message=f"is not allowed with this status; allowed: {', '.join(allowed) or 'none'}",
        )
    if request.status == "Closed":
        yield FieldError(
            path="/status", code="invalid_status", message="a new referral cannot be Closed"
        )
    if request.type == "Shared":
        if not request.customerProfile.team:
            yield FieldError(
                path="/customerProfile/team",
                code="contact_required",
                message="a Shared (co-sell) referral needs at least one customer contact",
            )
        requirements = request.details.requirements
        if requirements is None or not requirements.solutions:
            yield FieldError(
                path="/details/requirements/solutions",
                code="solution_required",
                message="a Shared (co-sell) referral needs at least one solution",
            )
    if request.details.dealValue is not None and request.details.currency is None:
        yield FieldError(
            path="/details/currency", code="missing", message="is required with dealValue"
        )


def _field_errors(data: Mapping[str, Any], errors: Sequence[ErrorDetails]) -> list[FieldError]:
    seen: set[tuple[str, str]] = set()
    out: list[FieldError] = []
    for error in errors:
        parts = _real_path(data, error["loc"], error["type"])
        code, message = _describe(error, parts)
        key = (json_pointer(parts), code)
        if key not in seen:
            seen.add(key)
            out.append(FieldError(path=key[0], code=code, message=message))
    return out


def _real_path(data: Any, loc: tuple[int | str, ...], error_type: str) -> list[str | int]:
    """The loc prefix that exists in the data (drops pydantic's union-member tags)."""
    parts: list[str | int] = []
    node = data
    for i, element in enumerate(loc):
        if _contains(node, element):
            node = node[element]
        elif not (error_type == "missing" and i == len(loc) - 1):
            break
        parts.append(element)
    return parts


def _contains(node: Any, element: int | str) -> bool:
    if isinstance(node, dict):
        return element in node
    return isinstance(node, list) and isinstance(element, int) and 0 <= element < len(node)


def _describe(error: ErrorDetails, parts: list[str | int]) -> tuple[str, str]:
    kind = error["type"]
    if kind == "extra_forbidden":
        name = parts[-1] if parts else ""
        if len(parts) == 1 and name in SERVER_FIELDS:
            return "read_only_field", "is set by Partner Center; remove it from the message"
        hint = _did_you_mean(parts)
        message = "is not a field of this object" + (f"; did you mean '{hint}'?" if hint else "")
        return "unknown_field", message
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return "not_allowed_value", f"must be one of {expected}"
    if kind in _CODES:
        return _CODES[kind]
    # Our own format checks raise PydanticCustomError: their type is the code, msg is ours.
    if kind.startswith("invalid_"):
        return kind, error["msg"]
    return "invalid_value", "has an invalid value"


def _did_you_mean(parts: list[str | int]) -> str | None:
    name = parts[-1]
    shape = tuple(p for p in parts[:-1] if isinstance(p, str))
    known = request_fields().get(shape)
    if not known or not isinstance(name, str):
        return None
    match = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    if not match:
        lowered = {k.lower(): k for k in known}
        return lowered.get(name.lower())
    return match[0]


@cache
def request_fields() -> dict[tuple[str, ...], frozenset[str]]:
    """Field names of every request model, keyed by its path (array indices dropped)."""
    table: dict[tuple[str, ...], frozenset[str]] = {}

    def walk(model: type[BaseModel], shape: tuple[str, ...]) -> None:
        table[shape] = frozenset(model.model_fields)
        for name, info in model.model_fields.items():
            for sub in _models_in(info.annotation):
                walk(sub, (*shape, name))

    walk(ReferralRequest, ())
    return table


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    origin = get_origin(annotation)
    if origin in (list, Union, types.UnionType) or origin is not None:
        for arg in get_args(annotation):
            yield from _models_in(arg)


def project_onto_request(value: Any, shape: tuple[str, ...] = ()) -> Any:
    """Keep only what a create request may carry: how a referral read back from Partner Center
    (with its server fields and extras) becomes a body we may POST again."""
    known = request_fields().get(shape)
    if isinstance(value, list):
        return [project_onto_request(item, shape) for item in value]
    if not isinstance(value, dict) or known is None:
        return value
    return {
        name: project_onto_request(item, (*shape, name))
        for name, item in value.items()
        if name in known and item is not None
    }
