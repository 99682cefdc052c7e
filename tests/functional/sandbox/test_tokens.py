"""The token authority, spoken to directly (form posts, as msal does), in-process."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from partner_sandbox import SandboxApp, SandboxConfig, create_app
from partner_sandbox.config import ADMIN_OID, DEFAULT_ORG_ID, USER_OID
from partner_sandbox.tokens import DEVICE_CODE_GRANT
from tests.functional.sandbox.conftest import ClientFactory
from tests.functional.sandbox.helpers import REFERRALS, FakeClock

SCOPE = "https://api.partner.microsoft.com/.default offline_access openid profile"
TOKEN = f"/{DEFAULT_ORG_ID}/oauth2/v2.0/token"
DEVICE = f"/{DEFAULT_ORG_ID}/oauth2/v2.0/devicecode"


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def assert_entra_error(response: httpx.Response, error: str, code: int) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}:")
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)


async def refresh(client: httpx.AsyncClient, token: str, client_id: str = "cid") -> httpx.Response:
    return await client.post(
        TOKEN,
        data={
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": client_id,
            "client_secret": "anything",
            "scope": SCOPE,
        },
    )


async def test_discovery_document_advertises_https_endpoints(connect: ClientFactory) -> None:
    client = connect(None)

    document = (await client.get(f"/{DEFAULT_ORG_ID}/v2.0/.well-known/openid-configuration")).json()

    base = f"https://sandbox.test/{DEFAULT_ORG_ID}"
    assert document["issuer"] == f"{base}/v2.0"
    assert document["token_endpoint"] == f"{base}/oauth2/v2.0/token"
    assert document["device_authorization_endpoint"] == f"{base}/oauth2/v2.0/devicecode"
    assert document["authorization_endpoint"] == f"{base}/oauth2/v2.0/authorize"
    unknown = await client.get("/not-a-tenant/v2.0/.well-known/openid-configuration")
    assert_entra_error(unknown, "invalid_tenant", 90002)


async def test_tokens_encode_organisation_user_role_and_expiry(
    app: SandboxApp, clock: FakeClock
) -> None:
    issued = app.sandbox.tokens.issue_for_user("user", client_id="cid")

    access = claims(issued["access_token"])
    assert access["tid"] == DEFAULT_ORG_ID
    assert access["oid"] == USER_OID
    assert access["upn"] == access["email"] == "referrals.user@contoso.example"
    assert access["roles"] == ["ReferralsUser"]
    assert access["idtyp"] == "user"
    assert access["aud"] == "https://api.partner.microsoft.com"
    assert access["exp"] - access["iat"] == issued["expires_in"] == 3600
    assert access["iat"] == int(clock.now)


async def test_refresh_tokens_rotate_and_the_old_one_stops_working(
    app: SandboxApp, connect: ClientFactory
) -> None:
    client = connect(None)
    first = app.sandbox.tokens.issue_for_user("admin", client_id="cid")["refresh_token"]

    exchanged = await refresh(client, first)
    second = exchanged.json()["refresh_token"]

    assert exchanged.status_code == 200
    assert second != first
    assert claims(exchanged.json()["access_token"])["oid"] == ADMIN_OID
    assert exchanged.headers["Cache-Control"] == "no-store"
    assert_entra_error(await refresh(client, first), "invalid_grant", 50173)
    assert (await refresh(client, second)).status_code == 200
    assert app.sandbox.stats()["tokenRequests"] == {"refresh_token": 3}


async def test_old_refresh_tokens_can_stay_valid(connect: ClientFactory) -> None:
    app = create_app(SandboxConfig(refresh_token_reuse=True))
    client = connect(None, target=app)
    first = app.sandbox.tokens.issue_for_user("admin", client_id="cid")["refresh_token"]

    second = (await refresh(client, first)).json()["refresh_token"]

    assert second != first
    assert (await refresh(client, first)).status_code == 200


async def test_refresh_token_bound_to_its_client(app: SandboxApp, connect: ClientFactory) -> None:
    token = app.sandbox.tokens.issue_for_user("admin", client_id="cid")["refresh_token"]

    assert_entra_error(
        await refresh(connect(None), token, client_id="other"), "invalid_grant", 70000
    )


async def test_unused_refresh_token_expires_like_entra(
    app: SandboxApp, connect: ClientFactory, clock: FakeClock
) -> None:
    token = app.sandbox.tokens.issue_for_user("admin", client_id="cid")["refresh_token"]

    clock.advance(91 * 86_400)

    response = await refresh(connect(None), token)
    assert_entra_error(response, "invalid_grant", 700082)
    assert "expired due to inactivity" in response.json()["error_description"]


async def test_revoked_refresh_tokens_fail_with_700082(
    app: SandboxApp, connect: ClientFactory
) -> None:
    client = connect(None)
    admin_token = app.sandbox.tokens.issue_for_user("admin", client_id="cid")["refresh_token"]
    user_token = app.sandbox.tokens.issue_for_user("user", client_id="cid")["refresh_token"]

    revoked = await client.post("/_sandbox/refresh-tokens/revoke", json={"user": "admin"})

    assert revoked.json() == {"revoked": 1}
    assert_entra_error(await refresh(client, admin_token), "invalid_grant", 700082)
    assert (await refresh(client, user_token)).status_code == 200


async def test_device_code_flow_is_approved_by_the_sandbox(connect: ClientFactory) -> None:
    app = create_app(SandboxConfig(device_code_pending_polls=2, device_code_interval_s=0))
    client = connect(None, target=app)

    started = await client.post(DEVICE, data={"client_id": "cid", "scope": SCOPE})
    flow = started.json()
    poll = {"grant_type": DEVICE_CODE_GRANT, "client_id": "cid", "device_code": flow["device_code"]}
    pending = [await client.post(TOKEN, data=poll) for _ in range(2)]
    approved = await client.post(TOKEN, data=poll)
    reused = await client.post(TOKEN, data=poll)

    assert started.status_code == 200
    assert flow["interval"] == 0
    assert flow["user_code"] in flow["message"]
    for response in pending:
        assert_entra_error(response, "authorization_pending", 70016)
    assert approved.status_code == 200
    assert claims(approved.json()["access_token"])["roles"] == ["ReferralsAdmin"]
    assert approved.json()["refresh_token"].startswith("rt.")
    assert_entra_error(reused, "invalid_grant", 70000)
    assert app.sandbox.stats()["tokenRequests"] == {"devicecode": 1, "device_code": 4}


async def test_device_code_login_hint_picks_the_user_and_codes_expire(
    app: SandboxApp, connect: ClientFactory, clock: FakeClock
) -> None:
    client = connect(None)
    hinted = await client.post(
        DEVICE,
        data={"client_id": "cid", "scope": SCOPE, "login_hint": "referrals.user@contoso.example"},
    )
    late = await client.post(DEVICE, data={"client_id": "cid", "scope": SCOPE})

    first = await client.post(
        TOKEN,
        data={
            "grant_type": DEVICE_CODE_GRANT,
            "client_id": "cid",
            "device_code": hinted.json()["device_code"],
        },
    )
    clock.advance(901)
    expired = await client.post(
        TOKEN,
        data={
            "grant_type": DEVICE_CODE_GRANT,
            "client_id": "cid",
            "device_code": late.json()["device_code"],
        },
    )

    assert claims(first.json()["access_token"])["oid"] == USER_OID
    assert_entra_error(expired, "expired_token", 70020)


async def test_client_credentials_token_is_refused_by_the_api(connect: ClientFactory) -> None:
    client = connect(None)

    grant = await client.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_id": "daemon",
            "client_secret": "s",
            "scope": "https://api.partner.microsoft.com/.default",
        },
    )
    token = grant.json()["access_token"]

    assert "refresh_token" not in grant.json()
    assert claims(token)["idtyp"] == "app"
    refused = await connect(None, token=token).get(REFERRALS)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "accessDenied"


async def test_token_for_another_resource_is_401_at_the_api(
    app: SandboxApp, connect: ClientFactory
) -> None:
    rt = app.sandbox.tokens.issue_for_user("admin", client_id="cid")["refresh_token"]
    graph = await connect(None).post(
        TOKEN,
        data={
            "grant_type": "refresh_token",
            "refresh_token": rt,
            "client_id": "cid",
            "scope": "https://graph.microsoft.com/.default",
        },
    )

    response = await connect(None, token=graph.json()["access_token"]).get(REFERRALS)

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("form", "error", "code"),
    [
        ({"client_id": "cid"}, "invalid_request", 900144),
        ({"grant_type": "refresh_token"}, "invalid_request", 900144),
        ({"grant_type": "password", "client_id": "cid"}, "unsupported_grant_type", 70003),
        ({"grant_type": "refresh_token", "client_id": "cid"}, "invalid_grant", 9002313),
        (
            {"grant_type": "client_credentials", "client_id": "c", "scope": "x"},
            "invalid_scope",
            1002012,
        ),
    ],
)
async def test_bad_token_requests(
    connect: ClientFactory, form: dict[str, str], error: str, code: int
) -> None:
    assert_entra_error(await connect(None).post(TOKEN, data=form), error, code)


async def test_unknown_tenant_on_the_token_endpoint(connect: ClientFactory) -> None:
    response = await connect(None).post(
        "/nowhere/oauth2/v2.0/token", data={"grant_type": "refresh_token", "client_id": "c"}
    )

    assert_entra_error(response, "invalid_request", 90002)
