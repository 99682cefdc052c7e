"""The resource as Partner Center binds, stores and returns it (issue 12 §3)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from partner_sandbox.resource import TOP_LEVEL_KEYS
from tests.functional.sandbox.helpers import REFERRALS, example

# Shaped like Microsoft's current create example ("a Private referral with minimal information
# required", learn.microsoft.com create-a-referral, 2024): PascalCase consent keys next to
# camelCase ones, contacts with an empty e-mail. Our own values.
PRIVATE_MINIMAL: dict[str, Any] = {
    "name": "Fabrikam Test Deal - [Private]",
    "qualification": "SalesQualified",
    "type": "Independent",
    "customerProfile": {
        "name": "Fabrikam Customer Ltd",
        "address": {"addressLine1": "1 High St", "city": "Leeds", "country": "GB"},
        "size": "10to50employees",
        "team": [
            {"firstName": "Ann", "lastName": "Lee", "phoneNumber": "0000000000", "email": ""},
        ],
    },
    "consent": {
        "ConsentToToShareInfoWithOthers": False,
        "ConsentToContact": True,
        "ConsentToMicrosoftToContactSpecificPartners": False,
        "consentToShareReferralWithMicrosoftSellers": False,
    },
    "details": {"notes": "Private deal", "dealValue": 1000, "currency": "GBP"},
    "team": [{"firstName": "Bo", "lastName": "Ng", "phoneNumber": "1", "email": ""}],
}


async def post(client: httpx.AsyncClient, body: Any) -> dict[str, Any]:
    response = await client.post(REFERRALS, json=body)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_microsofts_private_example_binds_case_insensitively(
    admin: httpx.AsyncClient,
) -> None:
    created = await post(admin, PRIVATE_MINIMAL)

    assert created["consent"] == {
        "consentToToShareInfoWithOthers": False,
        "consentToContact": True,
        "consentToMicrosoftToContactSpecificPartners": False,
        "consentToShareReferralWithMicrosoftSellers": False,
    }
    assert created["customerProfile"]["team"][0]["email"] == ""  # kept as sent
    assert created["team"][0]["email"] == ""


async def test_member_names_match_in_any_case_and_enums_ignore_case(
    admin: httpx.AsyncClient,
) -> None:
    body = {
        "TYPE": "shared",
        "Qualification": "salesqualified",
        "CustomerProfile": {"NAME": "Contoso", "Address": {"COUNTRY": "US"}},
        "consent": {"consenttocontact": True},
        "Details": {"DealValue": 5, "Requirements": {"Solutions": [{"ID": "s", "Type": "name"}]}},
        "Target": [{"Type": "solutionprofile", "Id": "SOL-1"}],
    }

    created = await post(admin, body)

    assert (created["type"], created["qualification"]) == ("Shared", "SalesQualified")
    assert created["customerProfile"]["name"] == "Contoso"
    assert created["customerProfile"]["address"]["country"] == "US"
    assert created["consent"]["consentToContact"] is True
    assert created["details"]["dealValue"] == 5
    assert created["details"]["requirements"]["solutions"] == [
        {"id": "s", "name": None, "type": "Name"}
    ]
    assert created["target"] == [{"type": "SolutionProfile", "id": "SOL-1"}]


async def test_unknown_members_are_ignored_at_every_level(admin: httpx.AsyncClient) -> None:
    body = example(emailAddress="x@y.example", PartnerRole="Services", SolutionArea="AI")
    body["details"]["closeDate"] = "2025-01-01"
    body["customerProfile"]["team"][0]["mobile"] = "123"

    created = await post(admin, body)
    stored = (await admin.get(f"{REFERRALS}/{created['id']}")).json()

    assert set(stored) == TOP_LEVEL_KEYS
    assert "closeDate" not in stored["details"]
    assert "mobile" not in stored["customerProfile"]["team"][0]


async def test_jsonnet_conversions(admin: httpx.AsyncClient) -> None:
    body = example()
    body["details"]["dealValue"] = "10000"
    body["consent"] = {"consentToContact": "TRUE", "consentToToShareInfoWithOthers": "false"}
    body["externalReferenceId"] = 1234  # a number binds to a string property
    body["favorite"] = 1

    created = await post(admin, body)

    assert created["details"]["dealValue"] == 10000
    assert created["consent"]["consentToContact"] is True
    assert created["consent"]["consentToToShareInfoWithOthers"] is False
    assert created["externalReferenceId"] == "1234"
    assert created["favorite"] is True


@pytest.mark.parametrize(
    ("change", "target", "code"),
    [
        ({"details": {"dealValue": "1e400"}}, "/details/dealValue", "invalid_number"),
        ({"team": {"email": "x"}}, "/team", "invalid_type"),
        ({"target": [{"type": "Somewhere", "id": "x"}]}, "/target/0/type", "invalid_value"),
        ({"customerProfile": "Contoso"}, "/customerProfile", "invalid_type"),
        ({"details": None}, "/details", "missing"),
        ({"status": "Active", "substatus": "Won"}, "/substatus", "invalid_status_combination"),
    ],
)
async def test_what_cannot_bind_or_breaks_a_documented_rule_is_400(
    admin: httpx.AsyncClient, change: dict[str, Any], target: str, code: str
) -> None:
    response = await admin.post(REFERRALS, json=example(**change))

    assert response.status_code == 400, response.text
    assert (target, code) in {(d["target"], d["code"]) for d in response.json()["error"]["details"]}


async def test_a_non_finite_json_number_is_refused(admin: httpx.AsyncClient) -> None:
    raw = REFERRALS
    body = example()
    body["details"]["dealValue"] = 0
    text = httpx.Request("POST", "http://x", json=body).content.replace(
        b'"dealValue":0', b'"dealValue":1e400'
    )

    response = await admin.post(raw, content=text, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.json()["error"]["target"] == "/details/dealValue"


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_a_body_that_is_not_json_is_415(
    admin: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    content = httpx.Request("POST", "http://x", json=example()).content

    response = await admin.post(REFERRALS, content=content, headers=headers)

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupportedMediaType"


async def test_json_with_a_charset_or_text_json_is_fine(admin: httpx.AsyncClient) -> None:
    content = httpx.Request("POST", "http://x", json=example()).content
    for content_type in ("application/json; charset=utf-8", "text/json"):
        response = await admin.post(
            REFERRALS, content=content, headers={"Content-Type": content_type}
        )
        assert response.status_code == 200, content_type


async def test_the_server_writes_its_own_values(admin: httpx.AsyncClient) -> None:
    body = example()
    del body["customerProfile"]["size"]
    body["customerProfile"]["ids"] = []
    body.pop("externalReferenceId", None)

    created = await post(admin, body)
    profile = created["customerProfile"]

    assert set(profile) == {"address", "ids", "isMatchingComplete", "name", "size", "team"}
    assert profile["size"] == ""
    assert profile["ids"] == [{"profileType": "Duns", "id": ""}]
    assert profile["isMatchingComplete"] is True
    assert created["externalReferenceId"] == ""
    assert created["salesStage"] is None
    assert created["registrations"] == []
    assert created["isSpam"] is False
    # Nulls where nothing was given, at every level of what was given.
    assert created["campaignId"] is None
    assert created["trackingInfo"] is None
    assert profile["address"]["region"] is None
    assert profile["team"][0]["contactPreference"]["locale"] == "en-us"


async def test_the_connectors_writable_fields_are_kept(admin: httpx.AsyncClient) -> None:
    fields = {
        "campaignId": "CAMP-1",
        "salesStage": "Develop",
        "referralProgram": "Co-sell",
        "favorite": True,
        "mpnId": "1234567",
        "callToAction": "Call",
        "referralSource": "Web",
        "trackingInfo": {"microsoftMsxId": "7-ABC"},
    }

    created = await post(admin, example(**fields))

    assert {k: created[k] for k in fields} == fields


async def test_server_fields_sent_on_create_are_overwritten_not_refused(
    admin: httpx.AsyncClient,
) -> None:
    body = example(
        id="00000000-0000-4000-8000-000000000000",
        eTag='"mine"',
        createdDateTime="2018-11-06T18:40:42.6178337Z",
        direction="Incoming",
        isSpam=True,
    )

    created = await post(admin, body)

    assert created["id"] != body["id"]
    assert created["eTag"] != body["eTag"]
    assert created["createdDateTime"] != body["createdDateTime"]
    assert (created["direction"], created["isSpam"]) == ("Outgoing", False)


async def test_microsofts_2019_create_example_is_accepted(
    admin: httpx.AsyncClient, request_example: dict[str, Any]
) -> None:
    # The 2019 partner-rest example sends Closed/Won and server timestamps; they bind and
    # the outgoing referral comes back Active/Accepted.
    body = {
        **request_example,
        "createdDateTime": "2018-11-06T18:40:42.6178337Z",
        "status": "Closed",
        "substatus": "Won",
        "statusReason": "Customer engagement was a success!",
    }

    created = await post(admin, body)

    assert (created["status"], created["substatus"]) == ("Active", "Accepted")
