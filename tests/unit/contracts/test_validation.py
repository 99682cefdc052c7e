"""Request-side rules: each problem gets a JSON Pointer, a stable code and a safe message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.contracts.errors import ContractViolation, json_pointer
from shared.contracts.validation import validate_referral_request

Mutation = Callable[[dict[str, Any]], None]


def problems(body: object) -> set[tuple[str, str]]:
    with pytest.raises(ContractViolation) as caught:
        validate_referral_request(body)
    return {(e.path, e.code) for e in caught.value.errors}


def _set(path: str, value: Any) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.strip("/").split("/")
        node: Any = body
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.strip("/").split("/")
        node: Any = body
        for part in parents:
            node = node[part]
        del node[last]

    return mutate


CASES: list[tuple[str, Mutation, tuple[str, str]]] = [
    ("type missing", _delete("/type"), ("/type", "missing")),
    ("customerProfile missing", _delete("/customerProfile"), ("/customerProfile", "missing")),
    ("consent missing", _delete("/consent"), ("/consent", "missing")),
    ("details missing", _delete("/details"), ("/details", "missing")),
    ("type not in enum", _set("/type", "Private"), ("/type", "not_allowed_value")),
    ("type wrong json type", _set("/type", 3), ("/type", "not_allowed_value")),
    (
        "country alpha-3",
        _set("/customerProfile/address/country", "USA"),
        ("/customerProfile/address/country", "invalid_country"),
    ),
    (
        "country missing",
        _delete("/customerProfile/address/country"),
        ("/customerProfile/address/country", "missing"),
    ),
    (
        "currency unknown",
        _set("/details/currency", "XYZ"),
        ("/details/currency", "invalid_currency"),
    ),
    (
        "deal value not numeric",
        _set("/details/dealValue", "lots"),
        ("/details/dealValue", "not_a_number"),
    ),
    ("deal value bool", _set("/details/dealValue", True), ("/details/dealValue", "not_a_number")),
    (
        "email malformed",
        _set("/customerProfile/team/1/email", "joe.hansen-at-contoso"),
        ("/customerProfile/team/1/email", "invalid_email"),
    ),
    (
        "consent not a bool",
        _set("/consent/consentToContact", "yes"),
        ("/consent/consentToContact", "not_a_boolean"),
    ),
    (
        "consent key with one To",
        _set("/consent/consentToShareInfoWithOthers", True),
        ("/consent/consentToShareInfoWithOthers", "unknown_field"),
    ),
    ("server field", _set("/id", "abc"), ("/id", "read_only_field")),
    ("unknown top-level field", _set("/colour", "blue"), ("/colour", "unknown_field")),
    ("target type", _set("/target/0/type", "Partner"), ("/target/0/type", "not_allowed_value")),
    (
        "shared without contacts",
        _set("/customerProfile/team", []),
        ("/customerProfile/team", "contact_required"),
    ),
    (
        "shared without solution",
        _set("/details/requirements/solutions", []),
        ("/details/requirements/solutions", "solution_required"),
    ),
    (
        "substatus vs status",
        _set("/substatus", "Won"),
        ("/substatus", "invalid_status_combination"),
    ),
    (
        "closing date",
        _set("/details/closingDateTime", "tomorrow"),
        (
            "/details/closingDateTime",
            "invalid_datetime",
        ),
    ),
    ("engagement id not a guid", _set("/engagementId", "abc"), ("/engagementId", "invalid_format")),
    (
        "customer name empty",
        _set("/customerProfile/name", ""),
        ("/customerProfile/name", "missing"),
    ),
    ("name not string", _set("/name", ["x"]), ("/name", "not_a_string")),
    ("team not a list", _set("/team", {"a": 1}), ("/team", "not_an_array")),
    ("consent not an object", _set("/consent", []), ("/consent", "not_an_object")),
    (
        "profile id type",
        _set("/customerProfile/ids", [{"profileType": "Vat", "id": "1"}]),
        ("/customerProfile/ids/0/profileType", "not_allowed_value"),
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_reports_pointer_and_code(
    request_example: dict[str, Any], mutate: Mutation, expected: tuple[str, str]
) -> None:
    mutate(request_example)
    assert expected in problems(request_example)


def test_taxonomy_ids_are_open_strings(request_example: dict[str, Any]) -> None:
    request_example["details"]["requirements"]["industries"] = [{"id": "SomethingNewFY27"}]
    request_example["details"]["requirements"]["solutions"][0]["id"] = "BrandNewSolution"
    assert validate_referral_request(request_example).details.requirements is not None


def test_independent_referral_needs_no_contact_or_solution(request_example: dict[str, Any]) -> None:
    request_example["type"] = "Independent"
    request_example["customerProfile"]["team"] = []
    del request_example["details"]["requirements"]
    assert validate_referral_request(request_example).type == "Independent"


def test_did_you_mean_names_the_real_consent_key(request_example: dict[str, Any]) -> None:
    request_example["consent"]["consentToShareInfoWithOthers"] = True
    with pytest.raises(ContractViolation) as caught:
        validate_referral_request(request_example)
    (error,) = caught.value.errors
    assert "did you mean 'consentToToShareInfoWithOthers'" in error.message


def test_did_you_mean_in_nested_lists(request_example: dict[str, Any]) -> None:
    request_example["customerProfile"]["team"][0]["emial"] = "x@y.com"
    with pytest.raises(ContractViolation) as caught:
        validate_referral_request(request_example)
    (error,) = caught.value.errors
    assert error.path == "/customerProfile/team/0/emial"
    assert "did you mean 'email'" in error.message


def test_every_problem_is_reported_at_once(request_example: dict[str, Any]) -> None:
    request_example["customerProfile"]["address"]["country"] = "XX"
    request_example["details"]["currency"] = "ABC"
    del request_example["type"]
    assert len(problems(request_example)) == 3


@pytest.mark.parametrize("body", [None, [], "text", 3, True])
def test_non_object_root(body: object) -> None:
    assert problems(body) == {("", "not_an_object")}


def test_messages_never_echo_input_values(request_example: dict[str, Any]) -> None:
    secret = "Zq9-PII-sentinel"
    request_example["customerProfile"]["address"]["country"] = secret
    request_example["customerProfile"]["team"][0]["email"] = f"{secret}@@"
    request_example["details"]["currency"] = secret
    request_example["details"]["dealValue"] = secret
    request_example["type"] = secret
    request_example["name"] = [5]
    request_example["team"][0]["phoneNumber"] = ["x" + secret]
    request_example["details"]["closingDateTime"] = secret
    with pytest.raises(ContractViolation) as caught:
        validate_referral_request(request_example)
    assert len(caught.value.errors) >= 7
    rendered = str(caught.value) + repr(caught.value.errors)
    assert secret not in rendered


def test_json_pointer_escapes_rfc6901() -> None:
    assert json_pointer(["a/b", "c~d", 0]) == "/a~1b/c~0d/0"
    assert json_pointer([]) == ""


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("sue.smith@contoso.com", True),
        ("o'brien+crm@contoso.co.uk", True),
        ("jörg@bücher.de", True),  # internationalised: the library's full check
        ("a..b@contoso.com", False),
        (".a@contoso.com", False),
        ("a@b", True),  # syntactically valid (RFC 5321): no deliverability check
        ("a@localhost", True),  # special-use domains are allowed
        ("sue@contoso.test", True),
        ("a@", False),
        ("no-at-sign", False),
        ("a@-contoso.com", False),
        ("a b@contoso.com", False),
    ],
)
def test_email_checks(address: str, ok: bool) -> None:
    from pydantic_core import PydanticCustomError

    from shared.contracts.formats import check_email

    if ok:
        assert check_email(address) == address
    else:
        with pytest.raises(PydanticCustomError):
            check_email(address)
