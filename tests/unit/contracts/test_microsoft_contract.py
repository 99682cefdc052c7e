"""The inbound contract is Microsoft's: what Partner Center documents as accepted is accepted,
read as its binder reads it; names that are not Microsoft's are refused with a did-you-mean."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from azure.functions.servicebus import ServiceBusMessage

from shared.contracts.envelope import InvalidMessage, parse_message
from shared.contracts.errors import ContractViolation
from shared.contracts.validation import check_referral_request, validate_referral_request
from tests.conftest import REPO

SAMPLES = REPO / "samples"


def _sample(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return body


def problems(body: object) -> dict[str, tuple[str, str]]:
    """path → (code, message) of every problem."""
    with pytest.raises(ContractViolation) as caught:
        check_referral_request(body)
    return {e.path: (e.code, e.message) for e in caught.value.errors}


def _message(raw: bytes, message_id: str = "msg-1") -> ServiceBusMessage:
    return ServiceBusMessage(
        body=raw, message_id=message_id, application_properties={}, user_properties={}
    )


# ---- Microsoft's own examples ---------------------------------------------------------------


def test_microsoft_2024_private_example_validates_as_documented() -> None:
    body = _sample("microsoft-2024-private.json")
    assert "ConsentToContact" in body["consent"]  # the sample is Microsoft's, PascalCase and all
    assert body["team"][0]["email"] == ""
    intake = check_referral_request(body)
    assert intake.body["consent"] == {
        "consentToToShareInfoWithOthers": True,
        "consentToContact": True,
        "consentToMicrosoftToContactSpecificPartners": True,
        "consentToShareReferralWithMicrosoftSellers": False,
    }
    # "" is "not given": not forwarded.
    assert "email" not in intake.body["customerProfile"]["team"][0]
    assert "email" not in intake.body["team"][0]
    # The solution's extra descriptive members are kept as written.
    (solution,) = intake.body["details"]["requirements"]["solutions"]
    assert solution["publisherName"] == "Contoso_Test"
    assert solution["solutionType"] == "3P"


def test_microsoft_2019_example_validates_with_warnings_not_refusals() -> None:
    body = _sample("microsoft-2019-create.json")
    intake = check_referral_request(body)
    codes = {(w.path, w.code) for w in intake.warnings}
    assert ("/status", "closed_on_create") in codes
    assert ("/createdDateTime", "set_by_partner_center") in codes
    assert intake.body == body  # forwarded as documented


def test_services_cosell_sample_validates_and_is_canonicalised() -> None:
    intake = check_referral_request(_sample("services-cosell.json"))
    assert intake.request.partnerRole == "ServicesPartner"
    assert intake.body["customerProfile"]["address"]["country"] == "GB"
    assert intake.body["details"]["currency"] == "GBP"
    assert intake.body["details"]["dealValue"] == 120000
    assert intake.body["details"]["closingDateTime"] == "2027-03-31T00:00:00Z"
    assert intake.body["customerProfile"]["team"][0]["email"] == "ana.ruiz@fabrikam.example"


# ---- every writable property of the connector and the docs ------------------------------------

WRITABLE: list[tuple[str, Any]] = [
    ("/campaignId", "FY26-CAMPAIGN-1"),
    ("/salesStage", "Qualify"),
    ("/salesStage", "100"),  # what the real service writes itself: an open string
    ("/referralProgram", "CoSell"),
    ("/favorite", True),
    ("/mpnId", "1234567"),
    ("/trackingInfo", {"microsoftMsxId": "7-ABCDEF"}),
    ("/callToAction", "ContactMe"),
    ("/referralSource", "Marketplace"),
    ("/customerMarketplaceIntent", "HaveNotDecided"),
    ("/partnerRole", "ServicesPartner"),
    ("/solutionArea", "AI Business Solutions"),
    ("/solutionPlay", "Copilot and AI Agents"),
    ("/consent/consentToMicrosoftToContactSpecificPartners", True),
    ("/consent/consentToShareReferralWithMicrosoftSellers", False),
    ("/details/customerRequestedContact", True),
    ("/details/customerAction", "Requested a trial"),
    ("/details/incentiveLevel", "Tier1"),
    ("/inviteContext/assistanceRequestCode", "ProofOfConceptOrDemo"),
    ("/inviteContext/invitedMpnId", "7654321"),
    ("/customerProfile/size", "SomeFutureSize"),
    ("/customerProfile/team/0/title", "CIO"),
    ("/customerProfile/ids", [{"profileType": "Duns", "id": "123456789"}]),
    (
        "/details/requirements/additionalRequirements",
        {"attributes": [{"type": "SolutionArea", "id": "Security"}], "iot": {}},
    ),
    ("/details/requirements/offers", [{"id": "offer-1"}]),
    ("/details/requirements/salesPlays", [{"id": "play-1"}]),
    ("/createdDateTime", "2018-11-06T18:40:42.6178337Z"),
    ("/expirationDateTime", "2018-11-14T00:00:00Z"),
]


def _put(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.strip("/").split("/")
    node: Any = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    node[last] = value


@pytest.mark.parametrize(("path", "value"), WRITABLE, ids=[f"{p}={v!r}" for p, v in WRITABLE])
def test_every_documented_writable_property_is_accepted(
    request_example: dict[str, Any], path: str, value: Any
) -> None:
    _put(request_example, path, value)
    intake = check_referral_request(request_example)
    node: Any = intake.body
    for part in path.strip("/").split("/"):
        node = node[int(part)] if isinstance(node, list) else node[part]
    assert node == value


# ---- keys in any case ----------------------------------------------------------------------


def _recase(value: Any, how: str) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = key[0].upper() + key[1:] if how == "pascal" else key.upper()
            out[name] = _recase(item, how)
        return out
    if isinstance(value, list):
        return [_recase(v, how) for v in value]
    return value


@pytest.mark.parametrize("how", ["pascal", "upper"])
def test_keys_match_in_any_case_and_are_posted_in_camel_case(
    request_example: dict[str, Any], how: str
) -> None:
    recased = _recase(request_example, how)
    assert "CustomerProfile" in recased or "CUSTOMERPROFILE" in recased
    intake = check_referral_request(recased)
    # Every key back to the documented spelling, the doubled "To" included.
    assert intake.body == request_example
    assert "consentToToShareInfoWithOthers" in intake.body["consent"]


def test_the_same_member_twice_with_different_values_is_refused(
    request_example: dict[str, Any],
) -> None:
    request_example["consent"]["ConsentToContact"] = False  # consentToContact is true
    assert problems(request_example)["/consent/consentToContact"][0] == "duplicate_field"


def test_the_same_member_twice_with_the_same_value_is_one_member(
    request_example: dict[str, Any],
) -> None:
    request_example["consent"]["ConsentToContact"] = True
    assert check_referral_request(request_example).body["consent"]["consentToContact"] is True


def test_enum_names_and_booleans_read_as_the_binder_reads_them(
    request_example: dict[str, Any],
) -> None:
    request_example["type"] = "shared"
    request_example["qualification"] = "SALESQUALIFIED"
    request_example["consent"]["consentToContact"] = "True"
    request_example["consent"]["consentToToShareInfoWithOthers"] = "false"
    body = check_referral_request(request_example).body
    assert body["type"] == "Shared"
    assert body["qualification"] == "SalesQualified"
    assert body["consent"] == {"consentToToShareInfoWithOthers": False, "consentToContact": True}


# ---- names that are not Microsoft's -----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "wrong", "hint"),
    [
        ("/customerProfile/team/0", "emailAddress", "email"),
        ("/details", "closeDate", "closingDateTime"),
        ("/customerProfile/address", "zip", "postalCode"),
        ("/consent", "consentToShareInfoWithOthers", "consentToToShareInfoWithOthers"),
    ],
)
def test_non_api_names_are_refused_with_a_did_you_mean(
    request_example: dict[str, Any], path: str, wrong: str, hint: str
) -> None:
    _put(request_example, f"{path}/{wrong}", "x")
    code, message = problems(request_example)[f"{path}/{wrong}"]
    assert code == "unknown_field"
    assert f"did you mean '{hint}'" in message


def test_invalid_sample_file_keeps_refusing_non_api_names() -> None:
    lines = (SAMPLES / "invalid.jsonl").read_text().splitlines()
    found: dict[str, str] = {}
    for line in lines:
        try:
            body = json.loads(line)
        except ValueError:
            continue
        with pytest.raises(ContractViolation) as caught:
            check_referral_request(body)
        for error in caught.value.errors:
            found[error.path] = error.message
    assert "did you mean 'email'" in found["/customerProfile/team/0/emailAddress"]
    assert "did you mean 'closingDateTime'" in found["/details/closeDate"]


@pytest.mark.parametrize(
    "path",
    ["/id", "/Id", "/eTag", "/isSpam", "/registrations", "/customerProfile/isMatchingComplete"],
)
def test_read_only_server_fields_are_still_refused(
    request_example: dict[str, Any], path: str
) -> None:
    _put(request_example, path, "x")
    assert problems(request_example)[path][0] == "read_only_field"


# ---- empty strings and nulls mean "not given" ---------------------------------------------------


def test_empty_strings_in_optional_fields_are_not_given(request_example: dict[str, Any]) -> None:
    request_example["customerProfile"]["team"][0]["email"] = ""
    request_example["customerProfile"]["size"] = ""
    request_example["statusReason"] = None
    request_example["name"] = ""
    body = check_referral_request(request_example).body
    assert "email" not in body["customerProfile"]["team"][0]
    assert "size" not in body["customerProfile"]
    assert "statusReason" not in body
    assert "name" not in body


def test_empty_string_in_a_required_field_is_missing(request_example: dict[str, Any]) -> None:
    request_example["customerProfile"]["address"]["country"] = ""
    assert problems(request_example)["/customerProfile/address/country"][0] == "missing"


def test_empty_external_reference_id_falls_back_to_the_message_id(
    request_example: dict[str, Any],
) -> None:
    request_example["externalReferenceId"] = ""
    command = parse_message(_message(json.dumps(request_example).encode(), "msg-42"))
    assert command.idempotency_key == "msg-42"
    assert "externalReferenceId" not in command.body


def test_empty_object_for_an_array_and_duns_placeholders_are_not_given(
    request_example: dict[str, Any],
) -> None:
    request_example["customerProfile"]["ids"] = {}  # as in Microsoft's 2020 examples
    request_example["team"][0]["contactPreference"] = {}
    body = check_referral_request(request_example).body
    assert "ids" not in body["customerProfile"]
    request_example["customerProfile"]["ids"] = [
        {"profileType": "Duns", "id": ""},
        {"profileType": "External", "id": "crm-42"},
    ]
    body = check_referral_request(request_example).body
    assert body["customerProfile"]["ids"] == [{"profileType": "External", "id": "crm-42"}]


# ---- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "posted"), [("10000", 10000), (" 10000.50 ", 10000.5), ("0", 0), (25.5, 25.5)]
)
def test_numeric_strings_are_numbers_on_the_wire(
    request_example: dict[str, Any], sent: Any, posted: float
) -> None:
    request_example["details"]["dealValue"] = sent
    command = parse_message(_message(json.dumps(request_example).encode()))
    assert command.body["details"]["dealValue"] == posted
    assert type(command.body["details"]["dealValue"]) is type(posted)


@pytest.mark.parametrize(
    "where",
    [
        b'"dealValue": 1e400',
        b'"dealValue": "1e400"',
        b'"dealValue": -1e400',
    ],
)
def test_non_finite_deal_values_are_refused(request_example: dict[str, Any], where: bytes) -> None:
    request_example["details"]["dealValue"] = 123456789
    raw = json.dumps(request_example).encode().replace(b'"dealValue": 123456789', where)
    with pytest.raises(InvalidMessage) as caught:
        parse_message(_message(raw))
    assert {(e.path, e.code) for e in caught.value.errors} <= {
        ("/details/dealValue", "not_finite"),
        ("/details/dealValue", "not_a_number"),
    }


@pytest.mark.parametrize(
    "path",
    [
        "/details/requirements/solutions/0/price",
        "/details/requirements/additionalRequirements/iot/power",
        "/somethingUnknown",
    ],
)
def test_non_finite_numbers_are_refused_anywhere_in_the_body(
    request_example: dict[str, Any], path: str
) -> None:
    _put(request_example, path, 7777)
    raw = json.dumps(request_example).encode().replace(b"7777", b"1e400")
    with pytest.raises(InvalidMessage) as caught:
        parse_message(_message(raw))
    assert (path, "not_finite") in {(e.path, e.code) for e in caught.value.errors}


def test_non_finite_numbers_in_free_form_arrays_are_refused(
    request_example: dict[str, Any],
) -> None:
    request_example["details"]["requirements"]["offers"] = [{"value": 7777}]
    raw = json.dumps(request_example).encode().replace(b"7777", b"-1e400")
    with pytest.raises(InvalidMessage) as caught:
        parse_message(_message(raw))
    assert ("/details/requirements/offers/0/value", "not_finite") in {
        (e.path, e.code) for e in caught.value.errors
    }


# ---- formats ------------------------------------------------------------------------------------


def test_country_and_currency_codes_in_any_case(request_example: dict[str, Any]) -> None:
    request_example["customerProfile"]["address"]["country"] = " us"
    request_example["details"]["currency"] = "usd"
    body = check_referral_request(request_example).body
    assert body["customerProfile"]["address"]["country"] == "US"
    assert body["details"]["currency"] == "USD"


def test_kosovo_is_a_country(request_example: dict[str, Any]) -> None:
    request_example["customerProfile"]["address"]["country"] = "XK"
    assert validate_referral_request(request_example).customerProfile.address.country == "XK"


@pytest.mark.parametrize(
    ("sent", "posted"),
    [
        ("2026-11-14T00:00:00", "2026-11-14T00:00:00Z"),
        ("2026-11-14T10:30:00.1234567", "2026-11-14T10:30:00.1234567Z"),
        ("2026-11-14", "2026-11-14T00:00:00Z"),
        ("2026-11-14T00:00:00+02:00", "2026-11-14T00:00:00+02:00"),
    ],
)
def test_closing_date_without_an_offset_is_utc(
    request_example: dict[str, Any], sent: str, posted: str
) -> None:
    request_example["details"]["closingDateTime"] = sent
    assert check_referral_request(request_example).body["details"]["closingDateTime"] == posted


@pytest.mark.parametrize(
    ("sent", "posted"),
    [
        (" sue.smith@contoso.com ", "sue.smith@contoso.com"),
        ("sue@contoso.test", "sue@contoso.test"),
        ("sue@localhost", "sue@localhost"),
        ("sue@printer.local", "sue@printer.local"),
    ],
)
def test_any_syntactically_valid_email_is_accepted_and_trimmed(
    request_example: dict[str, Any], sent: str, posted: str
) -> None:
    request_example["customerProfile"]["team"][0]["email"] = sent
    body = check_referral_request(request_example).body
    assert body["customerProfile"]["team"][0]["email"] == posted


# ---- text that is not Unicode -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fragment", "path"),
    [
        (b'"name": "Deal \\ud800"', "/name"),
        (b'"name": "Deal", "\\udfff": 1', ""),
        (b'"name": "Deal", "colour": "\\ud83d"', "/colour"),
    ],
)
def test_lone_surrogates_are_refused_at_validation(
    request_example: dict[str, Any], fragment: bytes, path: str
) -> None:
    request_example["name"] = "Deal"
    raw = json.dumps(request_example).encode().replace(b'"name": "Deal"', fragment)
    with pytest.raises(InvalidMessage) as caught:
        parse_message(_message(raw))
    errors = caught.value.errors
    assert (path, "invalid_unicode") in {(e.path, e.code) for e in errors}
    for error in errors:  # nothing in the rejection is unsendable itself
        (error.path + error.message).encode("utf-8")


def test_a_surrogate_key_never_becomes_the_idempotency_key(
    request_example: dict[str, Any],
) -> None:
    raw = (
        json.dumps(request_example)
        .encode()
        .replace(b'"name": "Test Cosell Invite_20"', b'"externalReferenceId": "crm-\\ud800"')
    )
    with pytest.raises(InvalidMessage) as caught:
        parse_message(_message(raw, "msg-7"))
    assert caught.value.idempotency_key == "msg-7"


# ---- refusals are Microsoft's, the rest are warnings --------------------------------------------


def test_doubts_are_warnings(request_example: dict[str, Any]) -> None:
    request_example["details"]["dealValue"] = -5
    del request_example["details"]["currency"]
    intake = check_referral_request(request_example)
    assert {w.code for w in intake.warnings} == {"negative_deal_value", "currency_missing"}
    command = parse_message(_message(json.dumps(request_example).encode()))
    assert {w.code for w in command.warnings} == {"negative_deal_value", "currency_missing"}


def test_documented_refusals_stay_refusals(request_example: dict[str, Any]) -> None:
    without_consent = copy.deepcopy(request_example)
    del without_consent["consent"]
    assert problems(without_consent) == {"/consent": ("missing", "is required")}
    request_example["substatus"] = "Won"  # with status New: the status table refuses it
    request_example["customerProfile"]["team"] = []  # Shared needs a contact
    assert {code for code, _ in problems(request_example).values()} == {
        "invalid_status_combination",
        "contact_required",
    }
