"""The real msal code path against the sandbox's token endpoint, served by uvicorn on loopback.

msal is synchronous and speaks HTTP (through `MsalHttpClient`, plain HTTP to loopback), so these
tests serve the sandbox on a free 127.0.0.1 port on the test's own loop; msal runs in a thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from partner_sandbox import SandboxApp, SandboxConfig, create_app
from partner_sandbox.faults import Fault
from partner_sandbox.server import ReadyInfo, serving
from shared.auth.errors import ReauthenticationRequired, TokenServiceUnavailable
from shared.auth.msal_http import MsalHttpClient
from shared.auth.sam_provider import SamTokenProvider
from shared.auth.stores import FileRefreshTokenStore
from shared.partner_api.errors import ServiceUnavailable
from shared.partner_api.retry import RetryPolicy
from shared.partner_api.stack import build_partner_api, partner_api_from_settings
from shared.settings import Settings
from tests.unit.partner_api.fakes import FakeClock

CLIENT_ID = "3c5d7e9f-1111-4222-8333-944455556666"
SCOPE = "https://api.partner.microsoft.com/.default offline_access openid profile"


class RecordingTransport(httpx.BaseTransport):
    """Real HTTP, plus a copy of every form body msal sends to the token endpoint."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.forms: list[dict[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/v2.0/token"):
            form = parse_qs(request.read().decode())
            self.forms.append({k: v[0] for k, v in form.items()})
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class CountingStore(FileRefreshTokenStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.saves: list[str] = []

    async def save(self, token: str) -> None:
        self.saves.append(token)
        await super().save(token)


@dataclass
class Served:
    app: SandboxApp
    ready: ReadyInfo
    transport: RecordingTransport
    http: MsalHttpClient
    tmp: Path

    def settings(self, **env: str) -> Settings:
        host = self.ready.authority.rsplit("/", 1)[0]
        return Settings.from_env(
            {
                "RELAY_PARTNER_API_URL": self.ready.url,
                "RELAY_AUTHORITY_HOST": host,
                "RELAY_PARTNER_TENANT_ID": self.app.sandbox.config.default_organization.id,
                "RELAY_PARTNER_CLIENT_ID": CLIENT_ID,
                "RELAY_REFRESH_TOKEN_STORE": f"file://{self.tmp / 'rt'}",
                "RELAY_APP_CREDENTIAL": "secret",
                "RELAY_CLIENT_SECRET": "sandbox-secret-value",
                **env,
            }
        )

    def store(self) -> CountingStore:
        """A file store holding a refresh token the sandbox issued to the admin, as login would."""
        issued = self.app.sandbox.tokens.issue_for_user("admin", client_id=CLIENT_ID)
        path = self.tmp / "rt"
        path.write_text(issued["refresh_token"])
        return CountingStore(path)

    def provider(
        self, store: CountingStore, clock: FakeClock | None = None, **env: Any
    ) -> SamTokenProvider:
        managed_identity = env.pop("managed_identity", None)
        return SamTokenProvider.from_settings(
            self.settings(**env),
            store=store,
            http_client=self.http,
            managed_identity=managed_identity,
            clock=clock or FakeClock(),
        )


async def _serve(config: SandboxConfig, tmp: Path) -> AsyncIterator[Served]:
    app = create_app(config)
    transport = RecordingTransport()
    http = MsalHttpClient(transport=transport)
    try:
        async with serving(app) as ready:
            yield Served(app, ready, transport, http, tmp)
    finally:
        http.close()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async for s in _serve(SandboxConfig(seed=3), tmp_path):
        yield s


async def test_200_concurrent_callers_on_a_cold_cache_make_exactly_one_token_request(
    served: Served,
) -> None:
    tokens = served.provider(served.store())

    results = await asyncio.gather(*(tokens.get_token() for _ in range(200)))

    assert len(set(results)) == 1
    assert served.app.sandbox.stats()["tokenRequests"] == {"refresh_token": 1}
    assert tokens.token_requests == 1
    claims = jwt.decode(results[0], options={"verify_signature": False})
    assert claims["aud"] == "https://api.partner.microsoft.com"
    assert claims["idtyp"] == "user"


async def test_200_concurrent_api_calls_on_a_cold_cache_make_exactly_one_token_request(
    served: Served,
) -> None:
    client = partner_api_from_settings(served.settings(), tokens=served.provider(served.store()))

    async def one() -> None:
        async for _ in client.list_referrals(
            filter=None, correlation_id="corr", deadline=client.clock() + 60
        ):
            pass

    await asyncio.gather(*(one() for _ in range(200)))
    await client.aclose()

    stats = served.app.sandbox.stats()
    assert stats["tokenRequests"] == {"refresh_token": 1}
    assert stats["requests"]["list"] == {"200": 200}


async def test_the_refresh_token_is_redeemed_with_the_app_secret(served: Served) -> None:
    tokens = served.provider(served.store())

    await tokens.get_token()

    (form,) = served.transport.forms
    assert form["grant_type"] == "refresh_token"
    assert form["client_id"] == CLIENT_ID
    assert form["client_secret"] == "sandbox-secret-value"
    assert set(form["scope"].split()) >= {
        "https://api.partner.microsoft.com/.default",
        "offline_access",
    }


async def test_rotation_writes_each_new_refresh_token_once_and_uses_the_newest(
    served: Served,
) -> None:
    store = served.store()
    first = store.path.read_text()
    clock = FakeClock()
    tokens = served.provider(store, clock)

    await tokens.get_token()
    await tokens.get_token()  # cached: no request, no write
    after_one = list(store.saves)
    clock.now += 3600  # the sandbox refuses a refresh token once it was exchanged: the
    await tokens.get_token()  # second redemption only works with the rotated one

    assert len(after_one) == 1
    assert after_one[0] != first
    assert len(store.saves) == 2
    assert len(set(store.saves)) == 2
    assert store.path.read_text() == store.saves[-1]
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert [f["refresh_token"] for f in served.transport.forms] == [first, after_one[0]]
    assert tokens.rotations == 2


async def test_a_revoked_refresh_token_asks_for_login_and_a_new_login_is_picked_up(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    store = served.store()
    revoked = store.path.read_text()
    served.app.sandbox.tokens.revoke_refresh_tokens("admin")
    tokens = served.provider(store)

    with caplog.at_level(logging.DEBUG), pytest.raises(ReauthenticationRequired) as caught:
        await tokens.get_token()
    fresh = served.app.sandbox.tokens.issue_for_user("admin", client_id=CLIENT_ID)
    store.path.write_text(fresh["refresh_token"])  # what `referral-relay login` does
    renewed = await tokens.get_token()

    message = str(caught.value)
    assert "AADSTS700082" in message
    assert f"referral-relay login --store {store.describe()}" in message
    assert renewed
    said = caplog.text + message + repr(caught.value)
    for secret in (revoked, fresh["refresh_token"], renewed, "sandbox-secret-value"):
        assert secret not in said
    assert "referrals.admin@contoso.example" not in said  # the user Entra's description names


async def test_an_unavailable_token_endpoint_is_transient_for_the_api_client(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    served.app.sandbox.faults.configure(token_endpoint=True)
    served.app.sandbox.faults.script(Fault.UNAVAILABLE, "token", count=1)
    tokens = served.provider(served.store())
    clock = FakeClock()
    client = build_partner_api(
        tokens, base_url=served.ready.url, retry=RetryPolicy(sleep=clock.sleep, clock=clock)
    )

    with caplog.at_level(logging.WARNING, logger="referral_relay.auth"):
        with pytest.raises(TokenServiceUnavailable):
            await tokens.get_token()
        with pytest.raises(ServiceUnavailable) as caught:
            await client.get_referral("x", correlation_id="c", deadline=clock.now + 2)
    await client.aclose()

    assert caught.value.code == "tokenEndpointUnavailable"
    assert caught.value.retry_after is not None
    assert any(r.__dict__.get("relay.event") == "token-refresh-failed" for r in caplog.records)


def _key_and_certificate() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return (key_pem + cert.public_bytes(serialization.Encoding.PEM)).decode()


async def test_a_certificate_credential_sends_a_signed_client_assertion(served: Served) -> None:
    tokens = served.provider(
        served.store(),
        RELAY_APP_CREDENTIAL="certificate",
        RELAY_CLIENT_CERTIFICATE_PEM=_key_and_certificate(),
    )

    await tokens.get_token()

    (form,) = served.transport.forms
    assert "client_secret" not in form
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    header = jwt.get_unverified_header(form["client_assertion"])
    assert header["alg"] == "PS256"
    assert "x5t#S256" in header
    claims = jwt.decode(form["client_assertion"], options={"verify_signature": False})
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"].endswith("/oauth2/v2.0/token")


@dataclass
class FakeManagedIdentity:
    calls: int = 0

    def get_token(self, *scopes: str) -> AccessToken:
        self.calls += 1
        assert scopes == ("api://AzureADTokenExchange/.default",)
        return AccessToken("managed-identity-federation-jwt", 2_000_000_000)


async def test_a_federated_credential_sends_the_managed_identity_token_as_assertion(
    served: Served,
) -> None:
    identity = FakeManagedIdentity()
    tokens = served.provider(
        served.store(),
        RELAY_APP_CREDENTIAL="federated",
        AZURE_CLIENT_ID="mi-client",
        managed_identity=identity,
    )

    await tokens.get_token()

    (form,) = served.transport.forms
    assert form["client_assertion"] == "managed-identity-federation-jwt"
    assert "client_secret" not in form
    assert identity.calls == 1


async def test_the_whole_stack_creates_a_referral_over_real_http(
    served: Served, request_example: dict[str, Any]
) -> None:
    tokens = served.provider(served.store())
    settings = served.settings()
    client = partner_api_from_settings(settings, tokens=tokens)

    created = await client.create_referral(
        request_example,
        correlation_id="corr-1",
        deadline=client.clock() + 30,
        retry_ambiguous=False,
    )
    await client.aclose()

    assert created.id is not None
    assert served.app.sandbox.stats()["requests"]["create"] == {"200": 1}
    assert created.organizationId == served.app.sandbox.config.default_organization.id
