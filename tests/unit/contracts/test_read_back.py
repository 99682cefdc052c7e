"""The read side survives what Partner Center really returns: the response model parses every real
shape, and the projection the connect step uses turns a read-back referral into a valid create
body (server-written empties, placeholders, nulls, read-only and unknown fields dropped)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contracts.referral import MICROSOFT_TARGET, Referral
from shared.contracts.validation import (
    check_referral_request,
    project_onto_request,
    validate_referral_request,
)

# The top-level keys of a real Partner Center referral (2022, production and PPE).
REAL_TOP_LEVEL_KEYS = [
    "acceptedDateTime",
    "callToAction",
    "campaignId",
    "closedDateTime",
    "consent",
    "createdDateTime",
    "createdVia",
    "customerProfile",
    "dealSensitivity",
    "details",
    "direction",
    "eTag",
    "engagementId",
    "expirationDateTime",
    "externalReferenceId",
    "favorite",
    "id",
    "inviteContext",
    "isSpam",
    "lastModifiedVia",
    "lastRunId",
    "links",
    "mpnId",
    "name",
    "organizationId",
    "organizationName",
    "qualification",
    "quality",
    "referralProgram",
    "referralSource",
    "registrationStatus",
    "registrations",
    "salesStage",
    "status",
    "statusReason",
    "substatus",
    "tags",
    "target",
    "team",
    "trackingInfo",
    "type",
    "updatedDateTime",
]

# What the connect step copies from our referral into Microsoft's (shared/handlers/connect.py).
COPIED_FIELDS = ("name", "customerProfile", "consent", "details", "team", "qualification")


def read_back(request_example: dict[str, Any], external_reference_id: Any = "") -> dict[str, Any]:
    """Our referral as Partner Center returns it after creating it from `request_example`."""
    wire: dict[str, Any] = dict.fromkeys(REAL_TOP_LEVEL_KEYS)
    wire.update(copy.deepcopy(request_example))
    wire.update(
        id="4111fffc-f9ee-4d53-bba6-569135228642",
        engagementId="37ef26aa-1d15-4533-9f93-a69bd33ab1e5",
        organizationId="a8c3f2f3-1111-2222-3333-444455556666",
        organizationName="Contoso Partner",
        createdDateTime="2022-06-01T10:00:00.1234567Z",
        updatedDateTime="2022-06-01T10:00:01.1234567Z",
        acceptedDateTime="2022-06-01T10:00:00.1234567Z",
        expirationDateTime=None,
        externalReferenceId=external_reference_id,
        status="Active",
        substatus="Accepted",
        direction="Outgoing",
        salesStage="100",
        eTag='"2500ec5a-0000-0000-0000-5bf4967d0000"',
        isSpam=False,
        favorite=False,
        createdVia="API",
        lastModifiedVia="API",
        registrations=[],
        tags=[],
        links={"self": {"uri": "https://api.partner.microsoft.com/x", "method": "GET"}},
        trackingInfo={"microsoftMsxId": None},
    )
    profile = wire["customerProfile"]
    profile["size"] = ""
    profile["ids"] = [{"profileType": "Duns", "id": ""}]
    profile["isMatchingComplete"] = True
    for member in profile["team"]:
        member["title"] = None
    wire["details"]["requirements"]["solutions"][0].update(price=None, quantity=None)
    return wire


def test_the_real_shape_has_the_42_keys(request_example: dict[str, Any]) -> None:
    assert len(read_back(request_example)) == 42


@pytest.mark.parametrize("external_reference_id", ["", None, "crm-opp-1001"])
def test_a_read_back_referral_projects_onto_a_valid_create_body(
    request_example: dict[str, Any], external_reference_id: Any
) -> None:
    wire = read_back(request_example, external_reference_id)
    body = project_onto_request(wire)
    validate_referral_request(body)
    profile = body["customerProfile"]
    assert "size" not in profile  # Partner Center's ""
    assert "ids" not in profile or profile["ids"] == []  # the Duns placeholder
    assert "isMatchingComplete" not in profile
    for server_field in ("id", "eTag", "createdDateTime", "expirationDateTime", "isSpam", "links"):
        assert server_field not in body
    assert "price" not in body["details"]["requirements"]["solutions"][0]
    assert body.get("externalReferenceId") == (external_reference_id or None)
    assert body["salesStage"] == "100"  # an open string Microsoft wrote: still writable


def test_connects_microsoft_body_from_a_read_back_is_valid(request_example: dict[str, Any]) -> None:
    # What connect builds: the copied parts of ours, projected, with Microsoft as the target.
    ours = Referral.model_validate(read_back(request_example)).to_wire()
    copied = {k: ours[k] for k in COPIED_FIELDS if ours.get(k) is not None}
    body = project_onto_request(copied)
    body.update(
        type="Shared",
        engagementId="37ef26aa-1d15-4533-9f93-a69bd33ab1e5",
        target=[dict(MICROSOFT_TARGET)],
    )
    request = validate_referral_request(body)
    assert request.customerProfile.size is None
    assert request.customerProfile.ids in (None, [])
    assert request.customerProfile.team
    assert request.customerProfile.team[0].email


def test_projection_of_a_valid_body_is_its_canonical_form(request_example: dict[str, Any]) -> None:
    assert project_onto_request(request_example) == check_referral_request(request_example).body


def test_projection_is_case_insensitive_like_intake(request_example: dict[str, Any]) -> None:
    wire = read_back(request_example)
    wire["CustomerProfile"] = wire.pop("customerProfile")
    assert project_onto_request(wire)["customerProfile"]["name"] == "Contoso Customer Inc"


def test_projection_drops_what_cannot_be_part_of_a_create_body(
    request_example: dict[str, Any],
) -> None:
    wire = read_back(request_example)
    wire["details"]["dealValue"] = float("inf")
    wire["details"]["currency"] = {"weird": True}
    wire["name"] = "bad \ud800 text"
    wire["customerProfile"]["team"][0]["email"] = None
    body = project_onto_request(wire)
    assert "dealValue" not in body["details"]
    assert "currency" not in body["details"]
    assert "name" not in body
    assert "email" not in body["customerProfile"]["team"][0]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)
known_keys = st.sampled_from(
    ["customerProfile", "details", "consent", "team", "ids", "size", "dealValue", "email", "id"]
)
referral_like = st.recursive(
    json_values,
    lambda children: st.dictionaries(known_keys | st.text(max_size=8), children, max_size=6),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(referral_like)
def test_projection_never_raises(value: Any) -> None:
    result = project_onto_request(value)
    if isinstance(value, dict):
        assert isinstance(result, dict)
        json.dumps(result, allow_nan=False)  # nothing non-finite survives
    else:
        assert result is value


# ---- the response model stays tolerant --------------------------------------------------------


@pytest.mark.parametrize(
    "tweak",
    [
        {},
        {"customerProfile": {"ids": {}}},  # Microsoft's 2020 examples
        {"customerProfile": {"ids": None, "size": None}},
        {"salesStage": None},
        {"salesStage": {"stage": "Qualify"}},
        {"trackingInfo": None},
    ],
)
def test_the_response_model_parses_every_real_shape(
    request_example: dict[str, Any], tweak: dict[str, Any]
) -> None:
    wire = read_back(request_example)
    for key, value in tweak.items():
        if isinstance(value, dict) and isinstance(wire.get(key), dict):
            wire[key].update(value)
        else:
            wire[key] = value
    referral = Referral.model_validate(wire)
    assert referral.to_wire() == wire
    assert referral.id == "4111fffc-f9ee-4d53-bba6-569135228642"
    assert not referral.targets_microsoft()
