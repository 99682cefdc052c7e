"""Routes, create, read and headers of the sandbox's Referrals API (in-process)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from partner_sandbox import SandboxConfig, create_app
from partner_sandbox.resource import TOP_LEVEL_KEYS
from partner_sandbox.store import wire_time
from tests.functional.sandbox.conftest import ClientFactory
from tests.functional.sandbox.helpers import (
    MSFT_TARGET,
    REFERRALS,
    FakeClock,
    create,
    example,
    kept,
)

WIRE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
ETAG = re.compile(r'^"[0-9a-f]{8}-0000-0000-0000-[0-9a-f]{12}"$')


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every object key in a JSON value, as a path (array items share `[]`)."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            paths.add(f"{prefix}/{key}")
            paths |= key_paths(item, f"{prefix}/{key}")
    elif isinstance(value, list):
        for item in value:
            paths |= key_paths(item, f"{prefix}[]")
    return paths


def assert_graph_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["innerError"]["request-id"] == response.headers["request-id"]
    return error


async def test_documented_example_gets_the_documented_response_keys(
    admin: httpx.AsyncClient, request_example: dict[str, Any], response_example: dict[str, Any]
) -> None:
    response = await admin.post(REFERRALS, json=request_example)

    assert response.status_code == 200
    got, documented = key_paths(response.json()), key_paths(response_example)
    assert documented - got == set()
    # The whole resource, as real responses carry it (42 top-level keys, issue 12).
    assert set(response.json()) == TOP_LEVEL_KEYS
    assert len(TOP_LEVEL_KEYS) == 42


async def test_create_assigns_server_fields(
    admin: httpx.AsyncClient, clock: FakeClock, request_example: dict[str, Any]
) -> None:
    response = await admin.post(REFERRALS, json=request_example)
    referral = response.json()

    assert uuid.UUID(referral["id"]).version == 4
    assert uuid.UUID(referral["engagementId"]).version == 4
    assert referral["organizationId"] == "7d23e5ca-19dc-4eaa-aac8-5e6b559f0d1d"
    assert referral["organizationName"] == "Contoso Company"
    assert (referral["direction"], referral["status"], referral["substatus"]) == (
        "Outgoing",
        "Active",
        "Accepted",  # the example asked for New/Pending
    )
    assert ETAG.match(referral["eTag"])
    assert response.headers["ETag"] == referral["eTag"]
    assert WIRE_TIME.match(referral["createdDateTime"])
    assert referral["createdDateTime"] == referral["updatedDateTime"] == wire_time(clock.now)
    assert referral["createdDateTime"].endswith(".2500000Z")
    assert referral["acceptedDateTime"] == referral["createdDateTime"]  # outgoing: accepted
    assert referral["externalReferenceId"] == ""  # [wire] "" when none was given
    assert referral["expirationDateTime"] is None
    assert referral["closedDateTime"] is None
    # Everything the caller sent comes back (inside a resource that has every property),
    # except the empty `ids`, where the server puts its Duns placeholder [wire].
    assert request_example["customerProfile"].pop("ids") == []
    assert referral["customerProfile"]["ids"] == [{"profileType": "Duns", "id": ""}]
    for key in ("name", "type", "target", "customerProfile", "consent", "details", "team"):
        assert kept(request_example[key], referral[key]), key


async def test_links_are_spelled_correctly_and_work(admin: httpx.AsyncClient) -> None:
    referral = await create(admin)
    links = referral["links"]

    assert "engagments" not in str(links)  # the real service's typo is not copied
    assert links["self"] == {
        "uri": f"http://sandbox.test/v1.0/engagements/referrals/{referral['id']}",
        "method": "GET",
    }
    assert (await admin.get(links["self"]["uri"])).json()["id"] == referral["id"]
    related = await admin.get(links["relatedReferrals"]["uri"])
    assert [r["id"] for r in related.json()["value"]] == [referral["id"]]


async def test_create_status_can_be_201(connect: ClientFactory) -> None:
    app = create_app(SandboxConfig(create_status=201))
    client = connect("admin", target=app)

    response = await client.post(REFERRALS, json=example())

    assert response.status_code == 201
    assert response.headers["Location"].endswith(response.json()["id"])


async def test_invalid_body_lists_every_problem(admin: httpx.AsyncClient) -> None:
    body = example()
    body["name"] = {"not": "a string"}
    body["details"]["dealValue"] = "fifty thousand"
    body["customerProfile"]["team"][0]["contactPreference"]["disableNotifications"] = "maybe"
    body["type"] = "Joint"
    del body["consent"]

    response = await admin.post(REFERRALS, json=body)

    error = assert_graph_error(response, 400, "invalidRequest")
    assert {(d["target"], d["code"]) for d in error["details"]} == {
        ("/name", "invalid_type"),
        ("/details/dealValue", "invalid_type"),
        ("/customerProfile/team/0/contactPreference/disableNotifications", "invalid_type"),
        ("/type", "invalid_value"),
        ("/consent", "missing"),
    }
    assert error["target"] == error["details"][0]["target"]
    assert error["innerError"]["code"] == "validationFailed"
    assert "fifty" not in response.text  # messages never quote the input
    assert (await admin.get(REFERRALS)).json()["value"] == []


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"{not json", "invalid_json"), (b"[1, 2]", "invalid_type"), (b'"text"', "invalid_type")],
)
async def test_body_that_is_not_a_referral_object_is_400(
    admin: httpx.AsyncClient, content: bytes, code: str
) -> None:
    response = await admin.post(
        REFERRALS, content=content, headers={"Content-Type": "application/json"}
    )

    error = assert_graph_error(response, 400, "invalidRequest")
    assert error["details"][0]["code"] == code
    assert error["details"][0]["target"] == ""


async def test_supplied_engagement_must_exist(admin: httpx.AsyncClient) -> None:
    response = await admin.post(REFERRALS, json=example(engagementId=str(uuid.uuid4())))

    error = assert_graph_error(response, 400, "invalidRequest")
    assert error["target"] == "/engagementId"
    assert error["details"][0]["code"] == "engagement_not_found"
    assert (await admin.get(REFERRALS)).json()["value"] == []


async def test_shared_flow_makes_two_referrals_in_one_engagement(
    admin: httpx.AsyncClient,
) -> None:
    ours = await create(admin, externalReferenceId="crm-1")
    engagement = ours["engagementId"]
    microsoft = await create(admin, engagementId=engagement.upper(), target=MSFT_TARGET)
    await create(admin)  # another engagement

    assert microsoft["engagementId"] == engagement
    assert microsoft["id"] != ours["id"]
    for expression in (
        f"engagementId eq '{engagement}'",
        f"engagementId eq {engagement}",
        f"engagementId eq {engagement.upper()}",
    ):
        listed = await admin.get(REFERRALS, params={"$filter": expression})
        assert [r["id"] for r in listed.json()["value"]] == [ours["id"], microsoft["id"]]


async def test_get_returns_the_referral_with_its_etag(admin: httpx.AsyncClient) -> None:
    referral = await create(admin)

    response = await admin.get(f"{REFERRALS}/{referral['id']}")

    assert response.status_code == 200
    assert response.json() == referral
    assert response.headers["ETag"] == referral["eTag"]


async def test_unknown_id_is_item_not_found(admin: httpx.AsyncClient) -> None:
    response = await admin.get(f"{REFERRALS}/{uuid.uuid4()}")

    assert_graph_error(response, 404, "itemNotFound")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", REFERRALS),
        ("PUT", REFERRALS),
        ("PATCH", REFERRALS),
        ("DELETE", f"{REFERRALS}/{uuid.UUID(int=1)}"),
        ("POST", f"{REFERRALS}/{uuid.UUID(int=1)}"),
    ],
)
async def test_other_methods_are_405(admin: httpx.AsyncClient, method: str, path: str) -> None:
    response = await admin.request(method, path)

    assert_graph_error(response, 405, "methodNotAllowed")
    assert "GET" in response.headers["Allow"]


async def test_unknown_path_is_a_graph_404(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/v1.0/engagements/nothing-here")

    assert_graph_error(response, 404, "itemNotFound")


async def test_every_response_has_a_request_id_and_echoes_the_client_request_id(
    admin: httpx.AsyncClient,
) -> None:
    sent = str(uuid.uuid4())
    responses = [
        await admin.post(REFERRALS, json=example(), headers={"client-request-id": sent}),
        await admin.get(REFERRALS, headers={"client-request-id": sent}),
        await admin.delete(REFERRALS, headers={"client-request-id": sent}),  # 405
        await admin.post(REFERRALS, json={}, headers={"client-request-id": sent}),  # 400
    ]

    request_ids = [r.headers["request-id"] for r in responses]
    assert all(uuid.UUID(rid) for rid in request_ids)
    assert len(set(request_ids)) == len(responses)
    assert all(r.headers["client-request-id"] == sent for r in responses)
    assert responses[3].json()["error"]["innerError"]["client-request-id"] == sent
    assert "client-request-id" not in (await admin.get(REFERRALS)).headers


async def test_external_reference_id_is_kept_and_found(admin: httpx.AsyncClient) -> None:
    first = await create(admin, externalReferenceId="CRM-O'Brien-1")
    await create(admin, externalReferenceId="CRM-2")

    listed = await admin.get(
        REFERRALS, params={"$filter": "externalReferenceId eq 'CRM-O''Brien-1'"}
    )

    assert first["externalReferenceId"] == "CRM-O'Brien-1"
    assert [r["id"] for r in listed.json()["value"]] == [first["id"]]


async def test_oversized_body_is_413(admin: httpx.AsyncClient) -> None:
    body = example(statusReason="x" * 1_100_000)

    response = await admin.post(REFERRALS, json=body)

    assert_graph_error(response, 413, "requestEntityTooLarge")
