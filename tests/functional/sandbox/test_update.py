"""Updates: JSON Patch (add/replace), If-Match, the status table, the obsolete PUT."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from partner_sandbox.store import wire_time
from tests.functional.sandbox.helpers import REFERRALS, FakeClock, create, example


def path(referral: dict[str, Any]) -> str:
    return f"{REFERRALS}/{referral['id']}"


def replace(**fields: Any) -> list[dict[str, Any]]:
    return [{"op": "replace", "path": f"/{k}", "value": v} for k, v in fields.items()]


def assert_invalid(response: httpx.Response, target: str, code: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalidRequest"
    assert error["target"] == target
    assert error["details"][0]["code"] == code


@pytest.fixture
async def referral(admin: httpx.AsyncClient) -> dict[str, Any]:
    return await create(admin, externalReferenceId="crm-7")


async def test_patch_replaces_bumps_etag_and_time(
    admin: httpx.AsyncClient, referral: dict[str, Any], clock: FakeClock
) -> None:
    clock.advance(90)

    response = await admin.patch(path(referral), json=replace(statusReason="Renamed"))

    assert response.status_code == 204
    assert response.content == b""
    stored = (await admin.get(path(referral))).json()
    assert stored["statusReason"] == "Renamed"
    assert response.headers["ETag"] == stored["eTag"] != referral["eTag"]
    assert stored["updatedDateTime"] == wire_time(clock.now)
    assert stored["createdDateTime"] == referral["createdDateTime"]
    assert stored["closedDateTime"] is None


async def test_patch_add_and_return_representation(
    admin: httpx.AsyncClient, referral: dict[str, Any]
) -> None:
    operations = [
        {"op": "add", "path": "/details/notes", "value": "Call back"},
        {"op": "add", "path": "/team/-", "value": {"email": "new.seller@contoso.example"}},
    ]

    response = await admin.patch(
        path(referral), json=operations, headers={"Prefer": "return=representation"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["details"]["notes"] == "Call back"
    assert body["team"][-1]["email"] == "new.seller@contoso.example"
    assert body["team"][-1]["firstName"] is None  # the whole Member, nulls where not given
    assert response.headers["ETag"] == body["eTag"]
    assert response.headers["Preference-Applied"] == "return=representation"


@pytest.mark.parametrize("op", ["remove", "move", "copy", "test", "merge"])
async def test_only_add_and_replace_are_allowed(
    admin: httpx.AsyncClient, referral: dict[str, Any], op: str
) -> None:
    operation = {"op": op, "path": "/statusReason", "from": "/details/notes", "value": "x"}

    response = await admin.patch(path(referral), json=[operation])

    assert_invalid(response, "/0/op", "unsupported_operation")


@pytest.mark.parametrize(
    "body",
    [
        {"op": "replace", "path": "/statusReason", "value": "x"},  # not an array
        [],
        ["replace"],
        [{"op": "replace", "value": "x"}],
        [{"op": "replace", "path": "statusReason", "value": "x"}],
        [{"op": "replace", "path": "/statusReason"}],
        [{"op": "replace", "path": "/nope/deeper", "value": "x"}],
        [{"op": "replace", "path": "/registrations/0/contract/term", "value": "x"}],  # none yet
    ],
)
async def test_malformed_patch_is_400(
    admin: httpx.AsyncClient, referral: dict[str, Any], body: Any
) -> None:
    response = await admin.patch(path(referral), json=body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalidRequest"


@pytest.mark.parametrize(
    "pointer",
    [
        "/id",
        "/eTag",
        "/engagementId",
        "/createdDateTime",
        "/links/self",
        "/direction",
        "/name",  # writable on create, not in the connector's PATCH paths
        "/customerProfile/address/country",
        "/team/0",
        "/registrations/1/contract/term",
    ],
)
async def test_paths_outside_the_connectors_enum_are_refused(
    admin: httpx.AsyncClient, referral: dict[str, Any], pointer: str
) -> None:
    response = await admin.patch(
        path(referral), json=[{"op": "replace", "path": pointer, "value": "x"}]
    )

    assert_invalid(response, "/0/path", "not_modifiable")
    message = response.json()["error"]["details"][0]["message"]
    assert message == "only a subset of fields can be modified after creating a deal"
    assert (await admin.get(path(referral))).json() == referral


async def test_patched_values_bind_like_a_create(
    admin: httpx.AsyncClient, referral: dict[str, Any]
) -> None:
    operations = [
        {"op": "replace", "path": "/details/notes", "value": "fine"},
        {"op": "replace", "path": "/details/dealValue", "value": "a lot"},
    ]

    response = await admin.patch(path(referral), json=operations)

    assert_invalid(response, "/1/value", "invalid_type")
    assert (await admin.get(path(referral))).json() == referral  # nothing of it applied


async def test_if_match(admin: httpx.AsyncClient, referral: dict[str, Any]) -> None:
    stale = await admin.patch(
        path(referral), json=replace(statusReason="a"), headers={"If-Match": '"stale"'}
    )
    current = await admin.patch(
        path(referral), json=replace(statusReason="b"), headers={"If-Match": referral["eTag"]}
    )
    again = await admin.patch(
        path(referral), json=replace(statusReason="c"), headers={"If-Match": referral["eTag"]}
    )
    anything = await admin.patch(
        path(referral), json=replace(statusReason="d"), headers={"If-Match": "*"}
    )

    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "preconditionFailed"
    assert current.status_code == 204
    assert again.status_code == 412  # the eTag moved on with the previous update
    assert anything.status_code == 204
    assert (await admin.get(path(referral))).json()["statusReason"] == "d"


@pytest.mark.parametrize(
    ("changes", "target", "code"),
    [
        ({"status": "New", "substatus": "Pending"}, "/status", "invalid_transition"),
        ({"substatus": "Pending"}, "/substatus", "invalid_status_combination"),
        ({"status": "Closed"}, "/substatus", "invalid_status_combination"),  # keeps Accepted
        ({"status": "Closed", "substatus": "Received"}, "/substatus", "invalid_status_combination"),
        ({"status": "Open", "substatus": "Accepted"}, "/0/value", "invalid_value"),
    ],
)
async def test_status_table_is_enforced(
    admin: httpx.AsyncClient,
    referral: dict[str, Any],
    changes: dict[str, str],
    target: str,
    code: str,
) -> None:
    response = await admin.patch(path(referral), json=replace(**changes))

    assert_invalid(response, target, code)


async def test_closing_sets_closed_time_and_freezes_the_referral(
    admin: httpx.AsyncClient, referral: dict[str, Any], clock: FakeClock
) -> None:
    clock.advance(5)
    closed = await admin.patch(
        path(referral),
        json=replace(status="Closed", substatus="Won", statusReason="Signed"),
        headers={"Prefer": "return=representation"},
    )
    assert closed.status_code == 200
    assert closed.json()["closedDateTime"] == wire_time(clock.now)

    for attempt in (
        replace(status="Closed", substatus="Lost"),
        replace(statusReason="after close"),
        replace(status="Active", substatus="Accepted"),
    ):
        assert_invalid(
            await admin.patch(path(referral), json=attempt), "/status", "referral_closed"
        )
    put = await admin.put(
        path(referral), json=example(), headers={"If-Match": closed.json()["eTag"]}
    )
    assert_invalid(put, "/status", "referral_closed")


async def test_patching_external_reference_id_moves_the_index(
    admin: httpx.AsyncClient, referral: dict[str, Any]
) -> None:
    assert (await admin.patch(path(referral), json=replace(externalReferenceId="crm-8"))).is_success

    async def found(value: str) -> list[str]:
        listed = await admin.get(REFERRALS, params={"$filter": f"externalReferenceId eq '{value}'"})
        return [r["id"] for r in listed.json()["value"]]

    assert await found("crm-7") == []
    assert await found("crm-8") == [referral["id"]]


async def test_put_needs_if_match(admin: httpx.AsyncClient, referral: dict[str, Any]) -> None:
    missing = await admin.put(path(referral), json=example(name="x"))
    stale = await admin.put(path(referral), json=example(name="x"), headers={"If-Match": '"old"'})

    assert_invalid(missing, "", "if_match_required")
    assert stale.status_code == 412


async def test_put_replaces_the_client_fields(
    admin: httpx.AsyncClient, referral: dict[str, Any], clock: FakeClock
) -> None:
    clock.advance(3)
    body = {k: v for k, v in referral.items() if k != "links"}  # fact sheet: links removed
    body.update(name="Replaced", statusReason=None, team=None)
    body.pop("inviteContext")

    response = await admin.put(path(referral), json=body, headers={"If-Match": referral["eTag"]})

    assert response.status_code == 200, response.text
    replaced = response.json()
    assert replaced["name"] == "Replaced"
    assert replaced["inviteContext"] is None  # a full replacement, not a merge
    assert replaced["links"] == referral["links"]
    assert replaced["id"] == referral["id"]
    assert replaced["createdDateTime"] == referral["createdDateTime"]
    assert replaced["updatedDateTime"] == wire_time(clock.now)
    assert response.headers["ETag"] == replaced["eTag"] != referral["eTag"]


@pytest.mark.parametrize(
    ("changes", "target"),
    [
        ({"id": "00000000-0000-4000-8000-000000000000"}, "/id"),
        ({"engagementId": "x"}, "/engagementId"),
    ],
)
async def test_put_cannot_move_a_referral(
    admin: httpx.AsyncClient, referral: dict[str, Any], changes: dict[str, str], target: str
) -> None:
    response = await admin.put(
        path(referral), json=example(**changes), headers={"If-Match": referral["eTag"]}
    )

    assert_invalid(response, target, "read_only_field")


async def test_put_validates_the_body(admin: httpx.AsyncClient, referral: dict[str, Any]) -> None:
    body = example(type="Bogus", status="Active", substatus="Accepted")

    response = await admin.put(path(referral), json=body, headers={"If-Match": referral["eTag"]})

    assert_invalid(response, "/type", "invalid_value")
