"""PATCH as Microsoft documents it: the 2020 partner-rest examples, the connector's path enum,
deal registration."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from partner_sandbox.rules import PATCH_PATHS
from tests.functional.sandbox.helpers import REFERRALS, create

REPRESENTATION = {"Prefer": "return=representation"}
JANE = {
    "email": "jane.doe@contoso.com",
    "firstName": "Jane",
    "lastName": "Doe",
    "phoneNumber": "0000000001",
}


@pytest.fixture
async def referral(admin: httpx.AsyncClient) -> dict[str, Any]:
    return await create(admin)


async def patch(
    client: httpx.AsyncClient, referral: dict[str, Any], operations: Any
) -> dict[str, Any]:
    response = await client.patch(
        f"{REFERRALS}/{referral['id']}", json=operations, headers=REPRESENTATION
    )
    assert response.status_code == 200, response.text
    updated: dict[str, Any] = response.json()
    return updated


async def test_the_documented_request_example(
    admin: httpx.AsyncClient, referral: dict[str, Any]
) -> None:
    updated = await patch(
        admin,
        referral,
        [
            {"op": "replace", "path": "/details/dealValue", "value": "10000"},
            {"op": "add", "path": "/team/-", "value": JANE},
        ],
    )

    assert updated["details"]["dealValue"] == 10000
    assert {k: updated["team"][-1][k] for k in JANE} == JANE


async def test_sample_1_deal_value_and_notes_without_if_match(
    admin: httpx.AsyncClient, referral: dict[str, Any]
) -> None:
    response = await admin.patch(
        f"{REFERRALS}/{referral['id']}",
        json=[
            {"op": "replace", "path": "/details/dealValue", "value": "10000"},
            {"op": "replace", "path": "/details/notes", "value": "Lorem ipsum dolor sit amet."},
        ],
    )

    assert response.status_code == 204
    stored = (await admin.get(f"{REFERRALS}/{referral['id']}")).json()
    assert (stored["details"]["dealValue"], stored["details"]["notes"]) == (
        10000,
        "Lorem ipsum dolor sit amet.",
    )


async def test_sample_2_won(admin: httpx.AsyncClient, referral: dict[str, Any]) -> None:
    updated = await patch(
        admin,
        referral,
        [
            {"op": "replace", "path": "/status", "value": "Closed"},
            {"op": "replace", "path": "/substatus", "value": "Won"},
        ],
    )

    assert (updated["status"], updated["substatus"]) == ("Closed", "Won")
    assert updated["closedDateTime"] is not None


async def test_sample_3_add_a_team_member(
    admin: httpx.AsyncClient, referral: dict[str, Any]
) -> None:
    before = len(referral["team"])

    updated = await patch(admin, referral, [{"op": "add", "path": "/team/-", "value": JANE}])

    assert len(updated["team"]) == before + 1


@pytest.mark.parametrize(
    ("path", "value", "where", "expected"),
    [
        ("/campaignId", "CAMP-9", "campaignId", "CAMP-9"),
        ("/salesStage", "Propose", "salesStage", "Propose"),
        ("/referralProgram", "Co-sell", "referralProgram", "Co-sell"),
        (
            "/consent/consentToShareReferralWithMicrosoftSellers",
            "true",
            "consent/consentToShareReferralWithMicrosoftSellers",
            True,
        ),
        ("/details/closingDateTime", "2030-01-01T00:00:00Z", "details/closingDateTime", None),
        ("/details/currency", "EUR", "details/currency", "EUR"),
        ("/externalReferenceId", "crm-9", "externalReferenceId", "crm-9"),
        ("/statusReason", "why", "statusReason", "why"),
        ("/customerProfile/team/-", JANE, "customerProfile/team/-1/email", JANE["email"]),
        (
            "/details/requirements/solutions/-",
            {"id": "SOL-1", "name": "S", "type": "Name"},
            "details/requirements/solutions/-1/id",
            "SOL-1",
        ),
        ("/TEAM/-", JANE, "team/-1/email", JANE["email"]),  # paths bind ignoring case
    ],
)
async def test_the_connectors_paths(
    admin: httpx.AsyncClient,
    referral: dict[str, Any],
    path: str,
    value: Any,
    where: str,
    expected: Any,
) -> None:
    updated: Any = await patch(admin, referral, [{"op": "add", "path": path, "value": value}])

    for part in where.split("/"):
        updated = updated[int(part)] if part.lstrip("-").isdigit() else updated[part]
    assert updated == (value if expected is None else expected)


async def test_deal_registration(admin: httpx.AsyncClient, referral: dict[str, Any]) -> None:
    registration = {
        "type": "ISV",
        "solutionDetails": [{"id": "SOL-1", "value": "2500", "isDeployedOnAzure": "true"}],
        "contract": {"value": 10000, "currency": "USD", "term": "12 months"},
    }

    # [swagger] PatchDealRegistrationByReferralId is `/referrals/{id}/` (trailing slash).
    response = await admin.patch(
        f"{REFERRALS}/{referral['id']}/",
        json=[{"op": "add", "path": "/registrations/-", "value": registration}],
        headers=REPRESENTATION,
    )
    assert response.status_code == 200, response.text
    (stored,) = response.json()["registrations"]
    assert stored["id"]
    assert stored["registrationDateTime"] is not None
    assert stored["solutionDetails"][0]["value"] == 2500
    assert stored["solutionDetails"][0]["isDeployedOnAzure"] is True
    assert stored["contract"]["term"] == "12 months"
    assert response.json()["registrationStatus"] is not None

    updated = await patch(
        admin,
        referral,
        [
            {"op": "replace", "path": "/registrations/0/contract/term", "value": "24 months"},
            {
                "op": "replace",
                "path": "/registrations/0/solutionDetails/0/pricingModel",
                "value": "PAYG",
            },
        ],
    )
    assert updated["registrations"][0]["contract"]["term"] == "24 months"
    assert updated["registrations"][0]["solutionDetails"][0]["pricingModel"] == "PAYG"
    assert updated["registrations"][0]["id"] == stored["id"]


def test_every_enum_path_is_a_declared_property() -> None:
    from partner_sandbox.resource import shape_at

    for path in PATCH_PATHS:
        assert shape_at(path.split("/")[1:]) is not None, path


async def test_a_json_patch_media_type_is_fine_and_others_are_415(
    admin: httpx.AsyncClient, referral: dict[str, Any]
) -> None:
    content = b'[{"op": "replace", "path": "/statusReason", "value": "x"}]'
    url = f"{REFERRALS}/{referral['id']}"

    ok = await admin.patch(
        url, content=content, headers={"Content-Type": "application/json-patch+json"}
    )
    refused = await admin.patch(url, content=content, headers={"Content-Type": "text/plain"})

    assert ok.status_code == 204
    assert refused.status_code == 415
