"""Real msal against the sandbox served by uvicorn on loopback, through MsalHttpClient."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import msal
import pytest

from partner_sandbox import SandboxApp, SandboxConfig, create_app
from partner_sandbox.server import ReadyInfo, serve_in_thread
from shared.auth.msal_http import MsalHttpClient
from tests.functional.sandbox.helpers import REFERRALS

SCOPES = ["https://api.partner.microsoft.com/.default"]
CLIENT_ID = "relay-app"


@pytest.fixture
def served() -> Iterator[tuple[SandboxApp, ReadyInfo]]:
    app = create_app(SandboxConfig(device_code_interval_s=0, device_code_pending_polls=1))
    with serve_in_thread(app) as ready:
        yield app, ready


@pytest.fixture
def http() -> Iterator[MsalHttpClient]:
    with MsalHttpClient(timeout=10.0) as client:
        yield client


def api_status(ready: ReadyInfo, token: str) -> int:
    response = httpx.get(ready.url + REFERRALS, headers={"Authorization": f"Bearer {token}"})
    return response.status_code


def signed_in_refresh_token(ready: ReadyInfo, user: str = "admin") -> str:
    """What a completed `referral-relay login` leaves behind, from the admin API."""
    response = httpx.post(f"{ready.admin}/tokens", json={"user": user, "clientId": CLIENT_ID})
    token: str = response.json()["refresh_token"]
    return token


def confidential(ready: ReadyInfo, http: MsalHttpClient) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        CLIENT_ID,
        authority=ready.authority,
        client_credential="x",
        http_client=http,
        instance_discovery=False,
    )


def test_authority_is_https_on_loopback(served: tuple[SandboxApp, ReadyInfo]) -> None:
    _, ready = served
    assert ready.authority.startswith("https://127.0.0.1:")
    assert ready.url.startswith("http://127.0.0.1:")


def test_msal_redeems_and_rotates_a_refresh_token(
    served: tuple[SandboxApp, ReadyInfo], http: MsalHttpClient
) -> None:
    app, ready = served
    refresh_token = signed_in_refresh_token(ready)

    result = confidential(ready, http).acquire_token_by_refresh_token(refresh_token, scopes=SCOPES)

    assert "access_token" in result, result.get("error_description")
    assert result["refresh_token"] != refresh_token
    assert api_status(ready, result["access_token"]) == 200
    again = confidential(ready, http).acquire_token_by_refresh_token(
        result["refresh_token"], scopes=SCOPES
    )
    assert "access_token" in again
    assert app.sandbox.stats()["tokenRequests"] == {"refresh_token": 2}


def test_msal_sees_revoked_refresh_tokens_as_entra_reports_them(
    served: tuple[SandboxApp, ReadyInfo], http: MsalHttpClient
) -> None:
    _, ready = served
    refresh_token = signed_in_refresh_token(ready)
    httpx.post(f"{ready.admin}/refresh-tokens/revoke", json={})

    result = confidential(ready, http).acquire_token_by_refresh_token(refresh_token, scopes=SCOPES)

    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [700082]


def test_msal_client_credentials_token_is_refused_by_the_api(
    served: tuple[SandboxApp, ReadyInfo], http: MsalHttpClient
) -> None:
    _, ready = served

    result = confidential(ready, http).acquire_token_for_client(scopes=SCOPES)

    assert "access_token" in result, result.get("error_description")
    assert api_status(ready, result["access_token"]) == 403


def test_msal_device_flow_signs_in_the_referrals_admin(
    served: tuple[SandboxApp, ReadyInfo], http: MsalHttpClient
) -> None:
    app, ready = served
    public = msal.PublicClientApplication(
        CLIENT_ID, authority=ready.authority, http_client=http, instance_discovery=False
    )

    flow = public.initiate_device_flow(scopes=SCOPES)
    result = public.acquire_token_by_device_flow(flow)

    assert "user_code" in flow, flow
    assert "access_token" in result, result.get("error_description")
    assert result["id_token_claims"]["preferred_username"] == "referrals.admin@contoso.example"
    assert "refresh_token" in result
    assert api_status(ready, result["access_token"]) == 200
    accounts = public.get_accounts()
    assert [a["username"] for a in accounts] == ["referrals.admin@contoso.example"]
    # One "authorization_pending" answer, then the sandbox approved by itself.
    assert app.sandbox.stats()["tokenRequests"] == {"devicecode": 1, "device_code": 2}
