"""The admin API under /_sandbox: stats, faults at run time, reset, tokens, loopback only."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from partner_sandbox import SandboxApp
from partner_sandbox.config import DEFAULT_ORG_ID
from partner_sandbox.transport import SandboxTransport
from tests.functional.sandbox.conftest import ClientFactory
from tests.functional.sandbox.helpers import BASE, MSFT_TARGET, REFERRALS, create, example


async def test_stats_count_what_a_chaos_test_needs(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    ours = await create(admin, externalReferenceId="crm-1")
    engagement = ours["engagementId"]
    await create(admin, engagementId=engagement, target=MSFT_TARGET)
    await create(admin, engagementId=engagement, target=MSFT_TARGET)  # a duplicate to find
    other = await create(admin, externalReferenceId="crm-1")  # a duplicate key, new engagement
    await admin.get(REFERRALS)
    await admin.post(REFERRALS, json={})  # 400
    await admin.post(
        f"/{DEFAULT_ORG_ID}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": "c", "scope": "x/.default"},
    )

    stats = (await admin.get("/_sandbox/stats")).json()

    assert stats["referrals"] == {
        "stored": 4,
        "byEngagement": {engagement: 3, other["engagementId"]: 1},
        "byExternalReferenceId": {"crm-1": 2},
        "microsoftByEngagement": {engagement: 2},
    }
    assert stats["requests"] == {
        "create": {"200": 4, "400": 1},
        "list": {"200": 1},
        "token": {"200": 1},
    }
    assert stats["tokenRequests"] == {"client_credentials": 1}
    assert stats["faults"] == {}
    assert stats == app.sandbox.stats()


async def test_faults_change_at_run_time(admin: httpx.AsyncClient) -> None:
    changed = await admin.put(
        "/_sandbox/faults",
        json={"spec": "503=1,retry-after=2", "latency": {"get": "5+1"}, "seed": 9},
    )
    failing = await admin.get(REFERRALS)
    cleared = await admin.put("/_sandbox/faults", json={"spec": "none", "latency": {}})

    assert changed.status_code == 200
    assert changed.json()["spec"] == "503=1,retry-after=2"
    assert changed.json()["latency"] == {"get": "5+1"}
    assert changed.json()["seed"] == 9
    assert (failing.status_code, failing.headers["Retry-After"]) == (503, "2")
    assert cleared.json()["spec"] == "retry-after=1"
    assert (await admin.get(REFERRALS)).status_code == 200
    assert (await admin.get("/_sandbox/faults")).json() == cleared.json()


async def test_scripted_faults_from_the_admin_api(admin: httpx.AsyncClient) -> None:
    scripted = await admin.post(
        "/_sandbox/faults/next", json={"fault": "500", "route": "create", "count": 2}
    )

    assert scripted.json()["scripted"] == {"create": ["500", "500"]}
    statuses = [(await admin.post(REFERRALS, json=example())).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/_sandbox/faults", {"spec": "429=2"}),
        ("PUT", "/_sandbox/faults", {"spec": "boom=0.1"}),
        ("PUT", "/_sandbox/faults", {"latency": {"delete": "5"}}),
        ("PUT", "/_sandbox/faults", {"latency": {"create": "fast"}}),
        ("PUT", "/_sandbox/faults", {"seed": "x"}),
        ("PUT", "/_sandbox/faults", {"colour": "red"}),
        ("POST", "/_sandbox/faults/next", {"fault": "explode"}),
        ("POST", "/_sandbox/faults/next", {"fault": "drop", "route": "delete"}),
        ("POST", "/_sandbox/faults/next", {"fault": "drop", "count": 0}),
        ("POST", "/_sandbox/tokens", {"user": "nobody"}),
        ("POST", "/_sandbox/refresh-tokens/revoke", {"user": "nobody"}),
        ("POST", "/_sandbox/reset", [1]),
    ],
)
async def test_bad_admin_requests_are_400(
    admin: httpx.AsyncClient, method: str, path: str, body: object
) -> None:
    response = await admin.request(method, path, json=body)

    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


async def test_reset_forgets_referrals_and_counts(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    referral = await create(admin)
    token_before = app.sandbox.tokens.issue_for_user("admin")["refresh_token"]

    reset = await admin.post("/_sandbox/reset")

    assert reset.json()["referrals"]["stored"] == 0
    assert reset.json()["requests"] == {}
    assert (await admin.get(f"{REFERRALS}/{referral['id']}")).status_code == 404
    assert (await admin.post("/_sandbox/reset", json={"tokens": True})).status_code == 200
    refreshed = await admin.post(
        f"/{DEFAULT_ORG_ID}/oauth2/v2.0/token",
        data={"grant_type": "refresh_token", "refresh_token": token_before, "client_id": "x"},
    )
    assert refreshed.json()["error"] == "invalid_grant"


async def test_tokens_for_configured_users(
    admin: httpx.AsyncClient, connect: ClientFactory
) -> None:
    issued = await admin.post("/_sandbox/tokens", json={"user": "user", "lifetimeSeconds": 60})

    body = issued.json()
    assert body["expires_in"] == 60
    assert body["refresh_token"].startswith("rt.")
    assert (await connect(None, token=body["access_token"]).get(REFERRALS)).status_code == 200


async def test_config_lists_identities_without_personal_data(admin: httpx.AsyncClient) -> None:
    config = (await admin.get("/_sandbox/config")).json()

    organization = config["organizations"][0]
    assert organization["id"] == DEFAULT_ORG_ID
    assert [u["alias"] for u in organization["users"]] == ["admin", "user", "norole"]
    assert "upn" not in organization["users"][0]


async def test_admin_api_answers_loopback_clients_only(app: SandboxApp) -> None:
    remote = SandboxTransport(app, client=("192.0.2.10", 40000))
    async with httpx.AsyncClient(transport=remote, base_url=BASE) as client:
        response = await client.get("/_sandbox/stats")

    assert response.status_code == 403


# A referral with the shapes real responses show (2022, issue 12): server-written empties, an
# incoming referral from Microsoft, values outside the swagger's enums. Our own values.
REAL_WORLD_INCOMING: dict[str, Any] = {
    "id": "6F0E5F8B-0000-4000-8000-00000000A001",
    "engagementId": "6f0e5f8b-0000-4000-8000-00000000e001",
    "organizationId": DEFAULT_ORG_ID,
    "organizationName": "Contoso Company",
    "name": "Customer asks for help",
    "externalReferenceId": None,
    "status": "New",
    "substatus": "Received",
    "direction": "Incoming",
    "type": "Shared",
    "salesStage": "100",
    "expirationDateTime": None,
    "customerProfile": {
        "name": "Northwind",
        "size": "",
        "ids": [{"profileType": "Duns", "id": ""}],
        "isMatchingComplete": True,
        "address": {"country": "US"},
        "team": [],
    },
    "inviteContext": {"invitedBy": {"organizationId": "msft", "organizationName": "Microsoft"}},
    "somethingNew": {"the": "client must ignore it"},
}


async def test_a_referral_is_stored_verbatim(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/_sandbox/referrals", json=REAL_WORLD_INCOMING)

    assert response.status_code == 201
    stored = response.json()
    assert stored["id"] == REAL_WORLD_INCOMING["id"].lower()
    assert {k: v for k, v in stored.items() if k not in ("id", "eTag")} == {
        k: v for k, v in REAL_WORLD_INCOMING.items() if k != "id"
    }
    assert stored["eTag"]  # only what the store needs is added
    fetched = await admin.get(f"{REFERRALS}/{REAL_WORLD_INCOMING['id']}")
    assert fetched.json() == stored
    listed = await admin.get(REFERRALS, params={"$filter": "direction eq 'Incoming'"})
    assert [r["id"] for r in listed.json()["value"]] == [stored["id"]]


async def test_storing_an_existing_id_or_a_non_object_is_refused(admin: httpx.AsyncClient) -> None:
    assert (await admin.post("/_sandbox/referrals", json=REAL_WORLD_INCOMING)).status_code == 201

    again = await admin.post("/_sandbox/referrals", json=REAL_WORLD_INCOMING)
    other_org = await admin.post("/_sandbox/referrals?organization=nope", json={})

    assert again.status_code == 400
    assert other_org.status_code == 400


async def test_microsofts_actions_follow_the_status_table(admin: httpx.AsyncClient) -> None:
    incoming = (await admin.post("/_sandbox/referrals", json=REAL_WORLD_INCOMING)).json()
    url = f"/_sandbox/referrals/{incoming['id']}"

    accepted = await admin.post(f"{url}/accept")
    assert accepted.status_code == 200
    assert (accepted.json()["status"], accepted.json()["substatus"]) == ("Active", "Accepted")
    assert accepted.json()["acceptedDateTime"] is not None
    assert accepted.json()["eTag"] != incoming["eTag"]

    closed = await admin.post(f"{url}/close", json={"substatus": "Lost", "statusReason": "Price"})
    assert (closed.json()["status"], closed.json()["substatus"]) == ("Closed", "Lost")
    assert closed.json()["statusReason"] == "Price"
    assert closed.json()["closedDateTime"] is not None

    assert (await admin.post(f"{url}/accept")).status_code == 400  # Closed is terminal
    stored = (await admin.get(f"{REFERRALS}/{incoming['id']}")).json()
    assert stored == closed.json()


@pytest.mark.parametrize(("action", "substatus"), [("decline", "Declined"), ("expire", "Expired")])
async def test_decline_and_expire_close_the_referral(
    admin: httpx.AsyncClient, action: str, substatus: str
) -> None:
    incoming = (await admin.post("/_sandbox/referrals", json=REAL_WORLD_INCOMING)).json()

    response = await admin.post(f"/_sandbox/referrals/{incoming['id']}/{action}")

    assert (response.json()["status"], response.json()["substatus"]) == ("Closed", substatus)


async def test_unknown_action_or_referral_is_400(admin: httpx.AsyncClient) -> None:
    referral = await create(admin)

    assert (await admin.post(f"/_sandbox/referrals/{referral['id']}/win")).status_code == 400
    assert (await admin.post("/_sandbox/referrals/nope/accept")).status_code == 400
    wrong = await admin.post(
        f"/_sandbox/referrals/{referral['id']}/close", json={"substatus": "Expired"}
    )
    assert wrong.status_code == 400
