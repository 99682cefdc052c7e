"""`$filter=updatedDateTime gt <instant>` with paging: how a change poller lists what changed."""

from __future__ import annotations

import httpx

from tests.functional.sandbox.helpers import REFERRALS, FakeClock, create


async def list_all(client: httpx.AsyncClient, params: dict[str, str]) -> list[dict[str, object]]:
    """Every page, following `@odata.nextLink`."""
    items: list[dict[str, object]] = []
    response = await client.get(REFERRALS, params=params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["value"])
        link = body.get("@odata.nextLink")
        if not link:
            return items
        response = await client.get(link)


async def test_only_referrals_changed_after_the_watermark_are_listed_page_by_page(
    admin: httpx.AsyncClient, clock: FakeClock
) -> None:
    old = await create(admin)
    clock.advance(10)
    fresh = [await create(admin) for _ in range(3)]
    clock.advance(10)
    accepted = await admin.post(f"/_sandbox/referrals/{old['id']}/close")  # changed: listed again
    watermark = old["updatedDateTime"]

    listed = await list_all(
        admin,
        {"$filter": f"updatedDateTime gt {watermark}", "$top": "2", "$orderby": "updatedDateTime"},
    )

    assert [r["id"] for r in listed] == [*(r["id"] for r in fresh), old["id"]]
    assert listed[-1]["eTag"] == accepted.json()["eTag"]


async def test_the_watermark_compares_the_fraction_and_may_be_quoted(
    admin: httpx.AsyncClient, clock: FakeClock
) -> None:
    first = await create(admin)
    clock.advance(0.000001)  # 1 us later: the 7-digit fractions differ, 1.0000000 apart
    second = await create(admin)
    assert second["updatedDateTime"] != first["updatedDateTime"]

    bare = await list_all(admin, {"$filter": f"updatedDateTime gt {first['updatedDateTime']}"})
    quoted = await list_all(admin, {"$filter": f"updatedDateTime ge '{second['updatedDateTime']}'"})
    before = await list_all(admin, {"$filter": "updatedDateTime lt 2000-01-01"})

    assert [r["id"] for r in bare] == [second["id"]]
    assert [r["id"] for r in quoted] == [second["id"]]
    assert before == []


async def test_ordering_on_numbers_and_non_dates_is_tolerated(admin: httpx.AsyncClient) -> None:
    await create(admin)

    big = await list_all(admin, {"$filter": "details/dealValue gt 0"})
    nothing = await list_all(admin, {"$filter": "name gt 2024-01-01T00:00:00Z"})

    assert len(big) == 1
    assert nothing == []
