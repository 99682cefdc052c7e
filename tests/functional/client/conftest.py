"""Fixtures: an in-process sandbox and a Partner API client wired to it, on a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from partner_sandbox import SandboxApp, SandboxConfig, create_app
from partner_sandbox.transport import SandboxTransport
from shared.partner_api.client import PartnerApiClient
from shared.partner_api.retry import RetryPolicy
from shared.partner_api.stack import build_partner_api
from tests.unit.partner_api.fakes import FakeClock

BASE = "https://sandbox.test"


@dataclass
class SandboxTokens:
    """Hands out sandbox access tokens: `tokens` in order, one more per invalidation."""

    tokens: list[str]
    invalidated: list[str] = field(default_factory=list)

    async def get_token(self) -> str:
        return self.tokens[0]

    def invalidate(self, token: str) -> None:
        self.invalidated.append(token)
        if len(self.tokens) > 1 and token == self.tokens[0]:
            self.tokens.pop(0)


@dataclass
class Rig:
    app: SandboxApp
    client: PartnerApiClient
    clock: FakeClock
    tokens: SandboxTokens

    def deadline(self, seconds: float = 60) -> float:
        return self.clock.now + seconds


@pytest.fixture
def sandbox_app() -> SandboxApp:
    return create_app(SandboxConfig(seed=7))


@pytest.fixture
async def make_rig() -> AsyncIterator[Callable[..., Rig]]:
    clients: list[httpx.AsyncClient] = []

    def make(
        app: SandboxApp,
        *,
        tokens: list[str] | None = None,
        read_timeout: float = 30.0,
    ) -> Rig:
        clock = FakeClock()
        http = httpx.AsyncClient(transport=SandboxTransport(app))
        clients.append(http)
        provider = SandboxTokens(tokens or [app.sandbox.token("admin")])
        client = build_partner_api(
            provider,
            base_url=BASE,
            retry=RetryPolicy(sleep=clock.sleep, clock=clock, max_wait=4.0),
            read_timeout=read_timeout,
            http=http,
        )
        return Rig(app, client, clock, provider)

    yield make
    for http in clients:
        await http.aclose()


@pytest.fixture
def rig(sandbox_app: SandboxApp, make_rig: Callable[..., Rig]) -> Rig:
    return make_rig(sandbox_app)
