"""Fixtures: an in-process sandbox on a fake clock, and httpx clients for its users."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from partner_sandbox import SandboxApp, SandboxConfig, create_app
from partner_sandbox.transport import SandboxTransport
from tests.functional.sandbox.helpers import BASE, FakeClock

ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock) -> SandboxApp:
    return create_app(SandboxConfig(seed=11, clock=clock))


@pytest.fixture
async def connect(app: SandboxApp) -> AsyncIterator[ClientFactory]:
    """`connect(user="admin", token=None, target=None, timeout=5)`: an in-process httpx client
    for a configured user (or with an explicit `token`, or none when `user` is None)."""
    opened: list[httpx.AsyncClient] = []

    def make(
        user: str | None = "admin",
        *,
        token: str | None = None,
        target: SandboxApp | None = None,
        timeout: float = 5.0,
    ) -> httpx.AsyncClient:
        sandbox_app = target or app
        headers = {}
        bearer = token or (sandbox_app.sandbox.token(user) if user else None)
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        client = httpx.AsyncClient(
            transport=SandboxTransport(sandbox_app),
            base_url=BASE,
            headers=headers,
            timeout=timeout,
        )
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()


@pytest.fixture
def admin(connect: ClientFactory) -> httpx.AsyncClient:
    """An httpx client signed in as the default organisation's Referrals Admin."""
    return connect("admin")
