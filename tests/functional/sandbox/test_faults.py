"""Fault injection as a client sees it: in-process (SandboxTransport) and under uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from partner_sandbox import FaultSpec, Latency, SandboxApp, SandboxConfig, create_app
from partner_sandbox.config import DEFAULT_ORG_ID
from partner_sandbox.faults import Fault
from partner_sandbox.server import ReadyInfo, serving
from partner_sandbox.transport import SandboxTransport
from tests.functional.sandbox.conftest import ClientFactory
from tests.functional.sandbox.helpers import REFERRALS, create, example


def stored(app: SandboxApp) -> int:
    count: int = app.sandbox.stats()["referrals"]["stored"]
    return count


async def test_throttle_has_retry_after_and_the_documented_plain_body(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    app.sandbox.faults.configure(spec=FaultSpec(retry_after=7))
    app.sandbox.faults.script(Fault.THROTTLE, "create")

    response = await admin.post(REFERRALS, json=example())

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json() == {
        "statusCode": 429,
        "message": "Rate limit is exceeded. Try again in 7 seconds.",
    }
    assert "request-id" in response.headers
    assert stored(app) == 0


async def test_throttle_body_can_be_graph_shaped(connect: ClientFactory) -> None:
    app = create_app(SandboxConfig(throttle_body="graph"))
    app.sandbox.faults.script(Fault.THROTTLE, "list")

    response = await connect("admin", target=app).get(REFERRALS)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "throttled"


@pytest.mark.parametrize(
    ("fault", "status", "code", "retry_after"),
    [
        (Fault.ERROR, 500, "generalException", None),
        (Fault.UNAVAILABLE, 503, "serviceNotAvailable", "1"),
    ],
)
async def test_server_errors_are_graph_shaped(
    app: SandboxApp,
    admin: httpx.AsyncClient,
    fault: Fault,
    status: int,
    code: str,
    retry_after: str | None,
) -> None:
    app.sandbox.faults.script(fault, "create")

    response = await admin.post(REFERRALS, json=example())

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.headers.get("Retry-After") == retry_after
    assert stored(app) == 0


async def test_drop_is_a_transport_error_and_nothing_is_stored(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    app.sandbox.faults.script(Fault.DROP, "create")

    with pytest.raises(httpx.RemoteProtocolError):
        await admin.post(REFERRALS, json=example())

    assert stored(app) == 0
    assert app.sandbox.stats()["requests"]["create"] == {"drop": 1}


async def test_lost_response_is_a_transport_error_but_the_referral_exists(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    app.sandbox.faults.script(Fault.LOST, "create")

    with pytest.raises(httpx.TransportError):
        await admin.post(REFERRALS, json=example(externalReferenceId="crm-lost"))

    listed = await admin.get(REFERRALS, params={"$filter": "externalReferenceId eq 'crm-lost'"})
    assert len(listed.json()["value"]) == 1
    assert app.sandbox.stats()["requests"]["create"] == {"lost": 1}


async def test_hang_times_out_at_the_clients_read_timeout(
    app: SandboxApp, connect: ClientFactory
) -> None:
    client = connect("admin", timeout=0.2)
    app.sandbox.faults.script(Fault.HANG, "create")

    with pytest.raises(httpx.ReadTimeout):
        await client.post(REFERRALS, json=example())

    assert stored(app) == 0
    assert (await client.post(REFERRALS, json=example())).status_code == 200


async def test_a_hang_without_client_timeout_ends_in_a_drop() -> None:
    app = create_app(SandboxConfig(hang_s=0.05))
    app.sandbox.faults.script(Fault.HANG, "get")
    headers = {"Authorization": f"Bearer {app.sandbox.token()}"}

    async with httpx.AsyncClient(
        transport=SandboxTransport(app),
        base_url="http://s",
        headers=headers,
        timeout=None,  # noqa: S113 - the point: a client that never gives up
    ) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(f"{REFERRALS}/x")


async def test_faults_hit_only_the_route_they_are_scripted_for(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    app.sandbox.faults.script(Fault.ERROR, "list", count=2)

    created = await create(admin)
    got = await admin.get(f"{REFERRALS}/{created['id']}")
    lists = [(await admin.get(REFERRALS)).status_code for _ in range(3)]

    assert got.status_code == 200
    assert lists == [500, 500, 200]


def outcomes(app: SandboxApp, count: int) -> list[str | None]:
    decisions = [app.sandbox.faults.decide("create") for _ in range(count)]
    return [d.fault.value if d.fault else None for d in decisions]


async def test_random_faults_are_deterministic_for_a_seed(connect: ClientFactory) -> None:
    spec = FaultSpec.parse("429=0.1,500=0.1,503=0.1,drop=0.05,hang=0.05,lost=0.1")

    async def run(seed: int) -> list[str]:
        app = create_app(SandboxConfig(seed=seed, faults=spec, hang_s=0.01))
        client = connect("admin", target=app, timeout=1.0)
        seen = []
        for _ in range(60):
            try:
                seen.append(str((await client.get(REFERRALS)).status_code))
            except httpx.TransportError as exc:
                seen.append(type(exc).__name__)
        return seen

    first, again, other = await run(5), await run(5), await run(6)

    assert first == again
    assert first != other
    assert {"200", "429", "500", "503", "RemoteProtocolError"} <= set(first)


async def test_reset_restarts_the_seeded_sequence(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    app.sandbox.faults.configure(spec=FaultSpec.parse("500=0.5"))
    before = outcomes(app, 20)

    assert (await admin.post("/_sandbox/reset")).status_code == 200

    assert outcomes(app, 20) == before


async def test_latency_is_per_route_fixed_plus_seeded_jitter(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    app.sandbox.sleep = record
    app.sandbox.clock = lambda: 1000.0  # the work takes no time: the whole latency is slept
    app.sandbox.faults.configure(latency={"create": Latency(50, 10), "*": Latency(5)})

    await create(admin)
    await admin.get(REFERRALS)

    assert len(slept) == 2
    assert 0.050 <= slept[0] < 0.060
    assert slept[1] == pytest.approx(0.005)


async def test_latency_counts_from_arrival_so_the_sandboxs_own_work_is_inside_it(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    slept: list[float] = []
    stored_when_waiting: list[int] = []
    now = [1000.0]
    store_add = app.sandbox.store.add

    async def record(seconds: float) -> None:
        slept.append(seconds)
        stored_when_waiting.append(app.sandbox.stats()["referrals"]["stored"])

    def slow_add(*args: Any, **kwargs: Any) -> None:
        now[0] += 0.004  # storing the referral is 4 ms of the sandbox's work
        store_add(*args, **kwargs)

    app.sandbox.sleep = record
    app.sandbox.clock = lambda: now[0]
    app.sandbox.store.add = slow_add  # type: ignore[method-assign]
    app.sandbox.faults.configure(latency={"*": Latency(20)})

    await create(admin)

    assert stored_when_waiting == [1]  # the work is done first, then the answer waits
    assert slept == [pytest.approx(0.016)]  # 20 ms from arrival, less the 4 ms already spent


async def test_token_endpoint_is_not_faulted_unless_asked(
    app: SandboxApp, connect: ClientFactory
) -> None:
    client = connect(None)
    app.sandbox.faults.configure(spec=FaultSpec.parse("503=1"))
    form = {
        "grant_type": "client_credentials",
        "client_id": "c",
        "scope": "https://api.partner.microsoft.com/.default",
    }
    token_path = f"/{DEFAULT_ORG_ID}/oauth2/v2.0/token"

    assert (await client.post(token_path, data=form)).status_code == 200

    app.sandbox.faults.configure(token_endpoint=True)
    failed = await client.post(token_path, data=form)
    assert failed.status_code == 503
    assert failed.json()["error"] == "temporarily_unavailable"
    assert failed.headers["Retry-After"] == "1"


# ---- the same faults over a real socket (uvicorn) -------------------------------------------


@pytest.fixture
async def served() -> AsyncIterator[tuple[SandboxApp, ReadyInfo]]:
    app = create_app(SandboxConfig(seed=3, hang_s=10))
    async with serving(app) as ready:
        yield app, ready


async def test_network_faults_under_uvicorn(served: tuple[SandboxApp, ReadyInfo]) -> None:
    app, ready = served
    headers = {"Authorization": f"Bearer {ready.token}"}
    timeout = httpx.Timeout(5.0, read=0.3)
    async with httpx.AsyncClient(base_url=ready.url, headers=headers, timeout=timeout) as client:
        app.sandbox.faults.script(Fault.DROP, "create")
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(REFERRALS, json=example())
        assert stored(app) == 0

        app.sandbox.faults.script(Fault.LOST, "create")
        with pytest.raises(httpx.TransportError):
            await client.post(REFERRALS, json=example())
        assert stored(app) == 1

        app.sandbox.faults.script(Fault.HANG, "create")
        with pytest.raises(httpx.ReadTimeout):
            await client.post(REFERRALS, json=example())
        assert stored(app) == 1

        app.sandbox.faults.script(Fault.THROTTLE, "create")
        throttled = await client.post(REFERRALS, json=example())
        assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "1")

        assert (await client.post(REFERRALS, json=example())).status_code == 200

    assert app.sandbox.stats()["requests"]["create"] == {
        "drop": 1,
        "lost": 1,
        "hang": 1,
        "429": 1,
        "200": 1,
    }


async def test_served_sandbox_answers_the_ready_token(served: tuple[SandboxApp, ReadyInfo]) -> None:
    _, ready = served
    async with httpx.AsyncClient(
        base_url=ready.url, headers={"Authorization": f"Bearer {ready.token}"}
    ) as client:
        response = await client.get(REFERRALS, headers={"client-request-id": "c-1"})
        stats = await client.get(f"{ready.admin}/stats")

    assert response.status_code == 200
    assert response.headers["client-request-id"] == "c-1"
    assert stats.json()["requests"] == {"list": {"200": 1}}
    assert ready.authority == f"{ready.url.replace('http://', 'https://')}/{DEFAULT_ORG_ID}"
