"""Late commits, lagging and inexact lists, the rate cap, all on the injectable clock."""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from partner_sandbox import FaultSpec, SandboxApp, SandboxConfig, create_app
from partner_sandbox.config import DEFAULT_ORGANIZATION, ROLE_ADMIN, Organization, User
from partner_sandbox.faults import Fault
from partner_sandbox.server import serving
from partner_sandbox.store import wire_time
from partner_sandbox.transport import SandboxTransport
from tests.functional.sandbox.conftest import ClientFactory
from tests.functional.sandbox.helpers import BASE, REFERRALS, FakeClock, create, example


def configure(app: SandboxApp, spec: str) -> None:
    app.sandbox.faults.configure(spec=FaultSpec.parse(spec))


async def by_key(client: httpx.AsyncClient, key: str) -> list[dict[str, Any]]:
    response = await client.get(REFERRALS, params={"$filter": f"externalReferenceId eq '{key}'"})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["value"]
    return found


async def late_create(client: httpx.AsyncClient, key: str) -> str:
    """POST a create that the sandbox commits late; what the client saw."""
    try:
        response = await client.post(REFERRALS, json=example(externalReferenceId=key))
    except httpx.RemoteProtocolError:
        return "drop"
    except httpx.ReadTimeout:
        return "hang"
    assert response.status_code == 504, response.text
    assert response.headers["content-type"].startswith("text/html")  # a gateway's page
    return "504"


async def test_late_commits_land_on_the_first_request_after_they_are_due(
    app: SandboxApp, connect: ClientFactory, clock: FakeClock
) -> None:
    client = connect("admin", timeout=0.2)
    configure(app, "late=1,late-delay=10")
    started = clock.now

    seen = Counter([await late_create(client, f"crm-{i}") for i in range(12)])

    assert set(seen) == {"504", "drop", "hang"}  # the seeded generator picks among the three
    assert app.sandbox.stats()["referrals"]["stored"] == 0
    assert await by_key(client, "crm-0") == []  # not committed yet
    clock.advance(10)  # the longest delay has passed

    configure(app, "")
    landed = [(await by_key(client, f"crm-{i}")) for i in range(12)]

    assert [len(found) for found in landed] == [1] * 12
    times = sorted(found[0]["createdDateTime"] for found in landed)
    assert wire_time(started) <= times[0] <= times[-1] <= wire_time(started + 10)
    assert app.sandbox.stats()["lateCommits"] == {"scheduled": 12, "landed": 12, "pending": 0}
    assert app.sandbox.stats()["faults"]["late"] == 12
    assert sum(app.sandbox.stats()["requests"]["create"].values()) == 12


async def test_only_due_commits_land(
    app: SandboxApp, connect: ClientFactory, clock: FakeClock
) -> None:
    client = connect("admin", timeout=0.2)
    configure(app, "late=1,late-delay=100")
    for i in range(6):
        await late_create(client, f"k-{i}")
    configure(app, "")
    pending = app.sandbox.late.due_times()

    clock.now = (pending[2] + pending[3]) / 2
    await client.get(REFERRALS)

    assert app.sandbox.stats()["lateCommits"]["landed"] == 3
    assert app.sandbox.stats()["referrals"]["stored"] == 3


async def test_settle_lands_every_pending_commit_now(
    app: SandboxApp, admin: httpx.AsyncClient, connect: ClientFactory
) -> None:
    client = connect("admin", timeout=0.2)
    app.sandbox.faults.script(Fault.LATE, "create", count=5)
    for i in range(3):
        await late_create(client, f"s-{i}")

    assert app.sandbox.settle() == 3  # the Python method
    for i in range(3, 5):
        await late_create(client, f"s-{i}")
    response = await admin.post("/_sandbox/settle")  # the admin call

    assert response.json() == {"landed": 2}
    assert app.sandbox.stats()["lateCommits"]["pending"] == 0
    assert app.sandbox.stats()["referrals"]["stored"] == 5


async def test_an_invalid_late_create_commits_nothing(
    app: SandboxApp, connect: ClientFactory
) -> None:
    client = connect("admin", timeout=0.2)
    app.sandbox.faults.script(Fault.LATE, "create", count=1)

    with contextlib.suppress(httpx.TransportError):  # what the client sees does not matter
        await client.post(REFERRALS, json={"type": "Independent"})
    app.sandbox.settle()

    assert app.sandbox.stats()["referrals"]["stored"] == 0


async def test_list_lag_hides_new_referrals_from_lists_only(
    app: SandboxApp, admin: httpx.AsyncClient, clock: FakeClock
) -> None:
    configure(app, "list-lag=30")
    created = await create(admin, externalReferenceId="crm-lag")

    assert (await admin.get(f"{REFERRALS}/{created['id']}")).status_code == 200
    assert await by_key(admin, "crm-lag") == []
    assert (await admin.get(REFERRALS)).json()["value"] == []
    clock.advance(29.9)
    assert await by_key(admin, "crm-lag") == []
    clock.advance(0.1)
    assert [r["id"] for r in await by_key(admin, "crm-lag")] == [created["id"]]
    assert app.sandbox.stats()["faults"]["list-lag"] == 3  # lookups the lag answered wrongly


async def test_a_case_insensitive_filter_finds_another_customers_referral(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    upper = await create(admin, externalReferenceId="CRM-1")
    lower = await create(admin, externalReferenceId="crm-1")
    configure(app, "filter-ci=1")

    found = await by_key(admin, "crm-1")

    assert [r["id"] for r in found] == [upper["id"], lower["id"]]
    assert app.sandbox.stats()["faults"]["filter-ci"] == 1


async def test_an_ignored_filter_returns_everything_paged(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    for i in range(3):
        await create(admin, externalReferenceId=f"crm-{i}")
    configure(app, "filter-ignored=1")

    response = await admin.get(
        REFERRALS, params={"$filter": "externalReferenceId eq 'crm-9'", "$top": "2"}
    )

    assert len(response.json()["value"]) == 2
    assert "@odata.nextLink" in response.json()
    assert app.sandbox.stats()["faults"]["filter-ignored"] == 1


async def test_a_filter_on_external_reference_id_can_be_refused(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    created = await create(admin, externalReferenceId="crm-1")
    configure(app, "filter-refused=1")

    refused = await admin.get(REFERRALS, params={"$filter": "externalReferenceId eq 'crm-1'"})
    by_engagement = await admin.get(
        REFERRALS, params={"$filter": f"engagementId eq '{created['engagementId']}'"}
    )

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalidRequest"
    assert [r["id"] for r in by_engagement.json()["value"]] == [created["id"]]


async def test_the_rate_cap_answers_429_with_retry_after_per_tenant(
    connect: ClientFactory,
) -> None:
    clock = FakeClock()
    fabrikam = Organization(
        id=str(uuid.UUID(int=0xFAB)),
        name="Fabrikam",
        users=(User("fab", str(uuid.UUID(int=0xFAB1)), "a@fabrikam.example", "A", (ROLE_ADMIN,)),),
    )
    app = create_app(
        SandboxConfig(
            organizations=(DEFAULT_ORGANIZATION, fabrikam),
            faults=FaultSpec.parse("rate-cap=2"),
        ),
        clock=clock,
    )
    contoso, other = connect("admin", target=app), connect("fab", target=app)

    statuses = [(await contoso.get(REFERRALS)).status_code for _ in range(2)]
    capped = await contoso.get(REFERRALS)
    theirs = await other.get(REFERRALS)
    clock.advance(0.5)
    still = await contoso.post(REFERRALS, json=example())
    clock.advance(0.5)
    again = await contoso.get(REFERRALS)

    assert statuses == [200, 200]
    assert capped.status_code == 429
    assert capped.headers["Retry-After"] == "1"
    assert capped.json() == {
        "statusCode": 429,
        "message": "Rate limit is exceeded. Try again in 1 seconds.",
    }
    assert theirs.status_code == 200  # another tenant, another budget
    assert still.status_code == 429
    assert again.status_code == 200
    assert app.sandbox.stats()["faults"]["rate-cap"] == 2


async def test_the_clock_can_be_given_to_create_app_the_transport_and_serving() -> None:
    first, second, third = FakeClock(1_800_000_000), FakeClock(1_900_000_000), FakeClock(2e9)
    app = create_app(SandboxConfig(), clock=first)
    token = app.sandbox.token("admin", lifetime_s=10**9)
    headers = {"Authorization": f"Bearer {token}"}

    async with httpx.AsyncClient(
        transport=SandboxTransport(app), base_url=BASE, headers=headers
    ) as client:
        made = (await client.post(REFERRALS, json=example())).json()
    assert made["createdDateTime"] == wire_time(first.now)

    async with httpx.AsyncClient(
        transport=SandboxTransport(app, clock=second), base_url=BASE, headers=headers
    ) as client:
        made = (await client.post(REFERRALS, json=example())).json()
    assert made["createdDateTime"] == wire_time(second.now)

    async with (
        serving(app, clock=third) as ready,
        httpx.AsyncClient(base_url=ready.url, headers=headers) as client,
    ):
        made = (await client.post(REFERRALS, json=example())).json()
    assert made["createdDateTime"] == wire_time(third.now)


@pytest.mark.parametrize("style", ["documented"])
async def test_the_documented_next_link_shape_pages_through_everything(
    connect: ClientFactory, style: str
) -> None:
    app = create_app(SandboxConfig(next_link=style))
    client = connect("admin", target=app)
    created = [(await create(client, externalReferenceId=f"p-{i}"))["id"] for i in range(5)]

    first = await client.get(REFERRALS, params={"$top": "2", "$filter": "type eq 'Shared'"})
    link = first.json()["@odata.nextLink"]
    assert link.startswith("http://sandbox.test/v1.0/referrals?$skiptoken=")
    seen = [r["id"] for r in first.json()["value"]]
    while link:
        page = (await client.get(link.replace("http://sandbox.test", ""))).json()
        seen += [r["id"] for r in page["value"]]
        link = page.get("@odata.nextLink")

    assert seen == created
