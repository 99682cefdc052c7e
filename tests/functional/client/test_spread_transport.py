"""The worker's HTTP transport (`SpreadTransport`, what `create_http_client` builds) over a real
loopback socket: requests spread over its small pools, every slot is given back (on success and
on every failure kind), and failures stay httpx's own exceptions, which the client's
ambiguous-create rule depends on."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from partner_sandbox import SandboxConfig, create_app
from partner_sandbox.app import SandboxApp
from partner_sandbox.config import Latency
from partner_sandbox.faults import Fault
from partner_sandbox.server import ReadyInfo, serving
from shared.partner_api.client import create_http_client
from shared.partner_api.transport import SpreadTransport

REFERRALS = "/v1.0/engagements/referrals"
EXAMPLE = json.loads(
    (Path(__file__).resolve().parents[2] / "data" / "referral-example-request.json").read_text()
)


@pytest.fixture
async def served() -> AsyncIterator[tuple[SandboxApp, ReadyInfo]]:
    app = create_app(SandboxConfig(seed=5, hang_s=10))
    async with serving(app) as ready:
        yield app, ready


def client_on(transport: SpreadTransport, *, read_timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(read_timeout, connect=5))


async def test_concurrent_requests_spread_over_the_pools_and_give_every_slot_back(
    served: tuple[SandboxApp, ReadyInfo],
) -> None:
    app, ready = served
    app.sandbox.faults.configure(latency={"create": Latency(300)})
    transport = SpreadTransport()
    client = client_on(transport, read_timeout=30)
    peak: list[int] = []

    async def create() -> int:
        request = client.post(
            ready.url + REFERRALS, json=EXAMPLE, headers={"Authorization": f"Bearer {ready.token}"}
        )
        task = asyncio.ensure_future(request)
        await asyncio.sleep(0.1)  # all 48 are in flight now (the sandbox holds each 300 ms)
        peak.append(max(transport.in_flight))
        return (await task).status_code

    try:
        statuses = await asyncio.gather(*(create() for _ in range(48)))
    finally:
        await client.aclose()
    assert statuses == [200] * 48
    assert app.sandbox.stats()["referrals"]["stored"] == 48
    assert max(peak) == 3  # 48 over 16 pools, not 48 in one pool
    assert transport.in_flight == [0] * len(transport.in_flight)


async def test_failures_are_httpx_exceptions_and_release_their_slot(
    served: tuple[SandboxApp, ReadyInfo],
) -> None:
    app, ready = served
    transport = SpreadTransport()
    client = client_on(transport, read_timeout=0.3)
    headers = {"Authorization": f"Bearer {ready.token}"}
    url = ready.url + REFERRALS
    try:
        app.sandbox.faults.script(Fault.DROP, "create")
        with pytest.raises(httpx.RemoteProtocolError):  # sent, then the server hung up
            await client.post(url, json=EXAMPLE, headers=headers)
        app.sandbox.faults.script(Fault.HANG, "create")
        with pytest.raises(httpx.ReadTimeout):
            await client.post(url, json=EXAMPLE, headers=headers)
        assert (await client.post(url, json=EXAMPLE, headers=headers)).status_code == 200
        assert transport.in_flight == [0] * len(transport.in_flight)
    finally:
        await client.aclose()


async def test_a_refused_connection_is_a_connect_error() -> None:
    # A port nobody listens on: nothing was sent, which the client must be able to tell.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = SpreadTransport(pools=2, connections_per_pool=1)
    client = client_on(transport, read_timeout=2)
    try:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}{REFERRALS}")
        assert transport.in_flight == [0, 0]
    finally:
        await client.aclose()


def test_pool_sizes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SpreadTransport(pools=0)


async def test_the_worker_client_is_built_on_it() -> None:
    client = create_http_client(connect_timeout=1, read_timeout=1)
    try:
        assert isinstance(client._transport, SpreadTransport)
    finally:
        await client.aclose()
