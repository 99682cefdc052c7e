"""Turn a decoded JSON value into a `ReferralRequest` and the canonical body we POST, or a
`ContractViolation` listing every problem with its JSON Pointer, a stable code and a message that
never quotes the input.

Postel, measured against Microsoft (docs/decisions.md): `intake.py` reads the body as Partner
Center's binder would; pydantic then checks Microsoft's writable properties strictly. We refuse
only what Partner Center documents as refused (the required objects, the status table, what a
co-sell needs), names that are not Microsoft's (with a did-you-mean, so `emailAddress` is not
silently lost), read-only server fields, and what would make the referral useless. Everything
else we doubt becomes a warning: a wrong acceptance costs one API 400, a wrong refusal loses the
referral. Pointers name the canonical (camelCase) members.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from shared.contracts.errors import ContractViolation, FieldError, json_pointer
from shared.contracts.intake import (
    model_table,
    normalise_request,
    project_onto_request,
    request_shapes,
)
from shared.contracts.referral import NESTED_SERVER_FIELDS, SERVER_FIELDS, ReferralRequest
from shared.contracts.status_rules import allowed_substatuses, is_valid_combination

__all__ = [
    "Intake",
    "business_rule_problems",
    "business_rule_warnings",
    "check_referral_request",
    "field_errors",
    "project_onto_request",
    "request_fields",
    "validate_referral_request",
]

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
    "finite_number": ("not_finite", "must be a finite number"),
}

# Names CRMs use for Microsoft's properties; a did-you-mean must catch them even where no
# spelling distance would (emailAddress is far from email).
_SYNONYMS: Final[dict[str, str]] = {
    "emailaddress": "email",
    "mail": "email",
    "phone": "phoneNumber",
    "mobile": "phoneNumber",
    "telephone": "phoneNumber",
    "closedate": "closingDateTime",
    "closingdate": "closingDateTime",
    "expectedclosedate": "closingDateTime",
    "amount": "dealValue",
    "dealamount": "dealValue",
    "value": "dealValue",
    "description": "notes",
    "note": "notes",
    "zip": "postalCode",
    "zipcode": "postalCode",
    "postcode": "postalCode",
    "countrycode": "country",
    "street": "addressLine1",
    "company": "name",
    "companyname": "name",
    "referraltype": "type",
    "externalid": "externalReferenceId",
    "crmid": "externalReferenceId",
}

_SERVER_SET_ON_CREATE: Final = ("createdDateTime", "updatedDateTime", "expirationDateTime")


@dataclass(frozen=True, slots=True)
class Intake:
    """An accepted message body."""

    request: ReferralRequest
    body: dict[str, Any]  # the canonical body: what we POST (keys camelCase, empties dropped)
    warnings: tuple[FieldError, ...]  # doubts that are not refusals; same shape as errors


def check_referral_request(data: object) -> Intake:
    """Normalise and validate a decoded message body. Raises `ContractViolation` only."""
    if not isinstance(data, dict):
        raise ContractViolation([FieldError(path="", code="not_an_object", message=_ROOT_MSG)])
    normalised = normalise_request(data)
    body: dict[str, Any] = normalised.body if isinstance(normalised.body, dict) else {}
    problems = list(normalised.problems)
    try:
        request = ReferralRequest.model_validate(body)
    except ValidationError as exc:
        problems.extend(_field_errors(body, exc.errors(include_url=False)))
        raise ContractViolation(_unique(problems)) from None
    problems.extend(business_rule_problems(request))
    if problems:
        raise ContractViolation(_unique(problems))
    return Intake(request=request, body=body, warnings=tuple(business_rule_warnings(request)))


def validate_referral_request(data: object) -> ReferralRequest:
    """`check_referral_request` for callers that need only the typed request."""
    return check_referral_request(data).request


_ROOT_MSG: Final = "the message body must be a JSON object (a referral)"


def business_rule_problems(request: ReferralRequest) -> Iterator[FieldError]:
    """Cross-field create rules Partner Center documents (status table, what a co-sell needs)."""
    if not is_valid_combination(request.status, request.substatus):
        allowed = sorted(allowed_substatuses(request.status or ""))
        yield FieldError(
            path="/substatus",
            code="invalid_status_combination",
            message=f"is not allowed with this status; allowed: {', '.join(allowed) or 'none'}",
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


def business_rule_warnings(request: ReferralRequest) -> Iterator[FieldError]:
    """Doubts that Partner Center does not document as refusals: reported, never rejected."""
    if request.status == "Closed":
        # Microsoft's 2019 create example itself creates a Closed/Won referral.
        yield FieldError(
            path="/status", code="closed_on_create", message="creates an already closed referral"
        )
    deal = request.details.dealValue
    if deal is not None and deal < 0:
        yield FieldError(
            path="/details/dealValue", code="negative_deal_value", message="is negative"
        )
    if deal is not None and request.details.currency is None:
        yield FieldError(
            path="/details/currency",
            code="currency_missing",
            message="is not given with dealValue; Partner Center picks a default",
        )
    for name in _SERVER_SET_ON_CREATE:
        if getattr(request, name) is not None:
            yield FieldError(
                path=f"/{name}",
                code="set_by_partner_center",
                message="is set by Partner Center, which may overwrite it",
            )


def _unique(problems: Sequence[FieldError]) -> list[FieldError]:
    seen: set[tuple[str, str]] = set()
    out: list[FieldError] = []
    for problem in problems:
        key = (problem.path, problem.code)
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out


def field_errors(data: Mapping[str, Any], errors: Sequence[ErrorDetails]) -> list[FieldError]:
    """pydantic's errors as ours (JSON Pointers, stable codes, did-you-mean, no input quoted)."""
    return _field_errors(data, errors)


def _field_errors(data: Mapping[str, Any], errors: Sequence[ErrorDetails]) -> list[FieldError]:
    out: list[FieldError] = []
    for error in errors:
        parts = _real_path(data, error["loc"], error["type"])
        code, message = _describe(error, parts)
        out.append(FieldError(path=json_pointer(parts), code=code, message=message))
    return _unique(out)


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
        shape = tuple(p for p in parts[:-1] if isinstance(p, str))
        if isinstance(name, str) and _is_server_field(shape, name):
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


def _is_server_field(shape: tuple[str, ...], name: str) -> bool:
    names = SERVER_FIELDS if not shape else NESTED_SERVER_FIELDS.get(shape, frozenset())
    return name.lower() in {n.lower() for n in names}


def _did_you_mean(parts: list[str | int]) -> str | None:
    """The documented name a publisher probably meant; a pointer when it lives elsewhere."""
    name = parts[-1]
    shape = tuple(p for p in parts[:-1] if isinstance(p, str))
    known = request_fields().get(shape)
    if not known or not isinstance(name, str):
        return None
    synonym = _SYNONYMS.get(name.lower())
    if synonym is not None:
        if synonym in known:
            return synonym
        for other, names in request_fields().items():
            if synonym in names:
                return json_pointer([*other, synonym])
    lowered = {k.lower(): k for k in known}
    match = difflib.get_close_matches(name.lower(), sorted(lowered), n=1, cutoff=0.75)
    return lowered[match[0]] if match else None


@cache
def request_fields() -> dict[tuple[str, ...], frozenset[str]]:
    """Field names of every request model, keyed by its path (array indices dropped)."""
    return {path: frozenset(model_table(model).fields) for path, model in request_shapes()}
