"""The Partner API a local run talks to: the sandbox (served on loopback, reached through the same
client, msal token provider and HTTP stack as in Azure) or the live service from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from partner_sandbox import SandboxConfig, create_app
from partner_sandbox.app import SandboxApp
from partner_sandbox.server import serving
from shared.auth.sam_provider import SamTokenProvider, confidential_app_factory
from shared.partner_api.client import PartnerApiClient
from shared.partner_api.stack import build_partner_api, partner_api_from_settings
from shared.settings import Settings

SANDBOX_CLIENT_ID = "sandbox-client"
# The sandbox accepts any client secret; in Azure the app proves itself with its managed identity.
SANDBOX_CLIENT_SECRET = "sandbox-secret"  # noqa: S105 - not a secret: the offline sandbox's


class MemoryRefreshTokenStore:
    """Refresh-token store for a sandbox session: nothing is written to disk."""

    def __init__(self, token: str) -> None:
        self._token = token
        self.saves = 0

    def describe(self) -> str:
        return "memory://sandbox"

    async def load(self) -> str:
        return self._token

    async def save(self, token: str) -> None:
        self._token = token
        self.saves += 1


@dataclass
class SandboxEndpoints:
    url: str
    authority: str
    admin: str


@dataclass
class PartnerConnection:
    api: PartnerApiClient
    tokens: SamTokenProvider
    http: httpx.AsyncClient
    sandbox: SandboxEndpoints | None = None
    app: SandboxApp | None = None  # set when the sandbox runs in this process

    async def sandbox_stats(self) -> dict[str, Any]:
        if self.sandbox is None:
            return {}
        response = await self.http.get(f"{self.sandbox.admin}/stats")
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats

    async def aclose(self) -> None:
        await self.http.aclose()


def sandbox_token_provider(authority: str, refresh_token: str) -> SamTokenProvider:
    """The production token provider (msal, refresh-token grant) on the sandbox's authority."""
    return SamTokenProvider(
        confidential_app_factory(
            client_id=SANDBOX_CLIENT_ID,
            authority=authority,
            client_credential=SANDBOX_CLIENT_SECRET,
        ),
        MemoryRefreshTokenStore(refresh_token),
    )


async def connect_sandbox(endpoints: SandboxEndpoints, *, user: str = "admin") -> PartnerConnection:
    """Sign in to a running sandbox (its admin API hands out a refresh token, as a completed
    `referral-relay login` would) and build the production client stack against it."""
    async with httpx.AsyncClient() as admin:
        response = await admin.post(
            f"{endpoints.admin}/tokens", json={"user": user, "clientId": SANDBOX_CLIENT_ID}
        )
    response.raise_for_status()
    tokens = sandbox_token_provider(endpoints.authority, response.json()["refresh_token"])
    api = build_partner_api(tokens, base_url=endpoints.url)
    return PartnerConnection(api=api, tokens=tokens, http=api.http, sandbox=endpoints)


@asynccontextmanager
async def sandbox_partner(config: SandboxConfig | None = None) -> AsyncIterator[PartnerConnection]:
    """Serve a fresh sandbox on a free loopback port for the duration of the block."""
    app = create_app(config)
    async with serving(app) as ready:
        connection = await connect_sandbox(
            SandboxEndpoints(url=ready.url, authority=ready.authority, admin=ready.admin)
        )
        connection.app = app
        try:
            yield connection
        finally:
            await connection.aclose()


@asynccontextmanager
async def live_partner(settings: Settings) -> AsyncIterator[PartnerConnection]:
    """The real Partner Center, with the token provider and store the settings name."""
    tokens = SamTokenProvider.from_settings(settings)
    api = partner_api_from_settings(settings, tokens=tokens)
    try:
        yield PartnerConnection(api=api, tokens=tokens, http=api.http)
    finally:
        await api.aclose()
