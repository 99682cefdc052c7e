"""List: OData `$filter`, `$top`, `$skip`, `$orderby`, `$select`, `$count`, `@odata.nextLink`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.functional.sandbox.helpers import MSFT_TARGET, REFERRALS, FakeClock, create


async def ids(client: httpx.AsyncClient, **params: str) -> list[str]:
    response = await client.get(REFERRALS, params=params)
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["value"]]


@pytest.fixture
async def three(admin: httpx.AsyncClient, clock: FakeClock) -> list[dict[str, Any]]:
    """Three referrals, one second apart, with different fields to filter on."""
    made = []
    for changes in (
        {"name": "O'Brien deal", "externalReferenceId": "crm-1", "type": "Independent"},
        {"externalReferenceId": "crm-2", "target": MSFT_TARGET},
        {"name": "Gamma", "customerProfile": {**_profile(), "address": {"country": "DE"}}},
    ):
        made.append(await create(admin, **changes))
        clock.advance(1)
    return made


def _profile() -> dict[str, Any]:
    from tests.functional.sandbox.helpers import example

    profile: dict[str, Any] = example()["customerProfile"]
    return profile


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("type eq 'Shared'", [1, 2]),
        ("type ne 'Shared'", [0]),
        ("name eq 'O''Brien deal'", [0]),
        ("customerProfile/address/country eq 'DE'", [2]),
        ("customerProfile/address/country eq 'US' and type eq 'Shared'", [1]),
        ("externalReferenceId eq 'crm-1' or externalReferenceId eq 'crm-2'", [0, 1]),
        ("not (externalReferenceId eq 'crm-1')", [1, 2]),
        ("(type eq 'Independent' or name eq 'Gamma') and status eq 'Active'", [0, 2]),
        ("externalReferenceId eq ''", [2]),  # [wire] "" when none was given
        ("externalReferenceId ne ''", [0, 1]),
        ("campaignId eq null", [0, 1, 2]),  # every real property, null when not given
        ("customerProfile/size eq '10to50employees'", [0, 1, 2]),
        ("isSpam eq false", [0, 1, 2]),
        ("team/any(t:t/email eq 'john.doe@microsoft.com')", [0, 1, 2]),
        ("team/any(t:t/email eq 'nobody@contoso.example')", []),
        ("customerProfile/team/any(c: c/lastName eq 'Hansen')", [0, 1, 2]),
        ("target/any(t: t/type eq 'BusinessProfileLocation' and t/id eq 'msft')", [1]),
        ("team/any()", [0, 1, 2]),
        ("consent/consentToContact eq true", [0, 1, 2]),
        ("details/dealValue eq 50000", [0, 1, 2]),
        ("direction eq 'Outgoing' and substatus eq 'Accepted'", [0, 1, 2]),
    ],
)
async def test_filter(
    admin: httpx.AsyncClient,
    three: list[dict[str, Any]],
    expression: str,
    expected: list[int],
) -> None:
    assert await ids(admin, **{"$filter": expression}) == [three[i]["id"] for i in expected]


async def test_filter_by_id_and_indexed_fields_still_applies_the_rest(
    admin: httpx.AsyncClient, three: list[dict[str, Any]]
) -> None:
    engagement = three[1]["engagementId"]

    assert await ids(admin, **{"$filter": f"id eq '{three[2]['id']}'"}) == [three[2]["id"]]
    narrowed = f"engagementId eq {engagement} and type eq 'Independent'"
    assert await ids(admin, **{"$filter": narrowed}) == []
    either = f"engagementId eq {engagement} or externalReferenceId eq 'crm-1'"
    assert await ids(admin, **{"$filter": either}) == [three[0]["id"], three[1]["id"]]


async def test_paging_follows_next_links_verbatim(admin: httpx.AsyncClient) -> None:
    created = [(await create(admin, statusReason=f"r{i}"))["id"] for i in range(7)]
    url: str | None = f"{REFERRALS}?$filter=type eq 'Shared'&$top=3&$count=true"
    pages: list[list[str]] = []
    counts: set[int] = set()
    while url:
        body = (await admin.get(url)).json()
        pages.append([r["id"] for r in body["value"]])
        counts.add(body["@odata.count"])
        url = body.get("@odata.nextLink")

    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for page in pages for i in page] == created
    assert counts == {7}


async def test_default_page_is_100(admin: httpx.AsyncClient) -> None:
    for i in range(101):
        await create(admin, statusReason=str(i))

    body = (await admin.get(REFERRALS)).json()

    assert len(body["value"]) == 100
    assert "$skip=100" in body["@odata.nextLink"]
    assert "@odata.count" not in body
    assert body["@odata.context"].endswith("/v1.0/$metadata#engagements/referrals")


async def test_skip_and_top(admin: httpx.AsyncClient, three: list[dict[str, Any]]) -> None:
    assert await ids(admin, **{"$skip": "1", "$top": "1"}) == [three[1]["id"]]
    assert await ids(admin, **{"$skip": "5"}) == []


async def test_orderby(
    admin: httpx.AsyncClient, three: list[dict[str, Any]], clock: FakeClock
) -> None:
    first, second, third = (r["id"] for r in three)
    patch = [{"op": "replace", "path": "/statusReason", "value": "touched"}]
    assert (await admin.patch(f"{REFERRALS}/{first}", json=patch)).status_code == 204

    assert await ids(admin, **{"$orderby": "createdDateTime desc"}) == [third, second, first]
    assert await ids(admin, **{"$orderby": "createdDateTime asc"}) == [first, second, third]
    assert await ids(admin, **{"$orderby": "createdDateTime"}) == [first, second, third]
    assert await ids(admin, **{"$orderby": "updatedDateTime desc"}) == [first, third, second]


async def test_select_and_count(admin: httpx.AsyncClient, three: list[dict[str, Any]]) -> None:
    body = (
        await admin.get(
            REFERRALS,
            params={"$select": "id,externalReferenceId", "$count": "true", "$top": "2"},
        )
    ).json()

    assert body["@odata.count"] == 3
    assert body["value"] == [
        {"id": three[0]["id"], "externalReferenceId": "crm-1"},
        {"id": three[1]["id"], "externalReferenceId": "crm-2"},
    ]
    assert "$select=id,externalReferenceId" in body["@odata.nextLink"]
    assert "$count=false" not in body["@odata.nextLink"]


@pytest.mark.parametrize(
    "params",
    [
        {"$top": "101"},
        {"$top": "0"},
        {"$top": "ten"},
        {"$top": "-1"},
        {"$skip": "-1"},
        {"$orderby": "name"},
        {"$orderby": "createdDateTime sideways"},
        {"$select": "id,nonsense"},
        {"$select": "customerProfile/name"},
        {"$count": "maybe"},
        {"$search": "x"},
        {"$filter": ""},
        {"$filter": "status eq"},
        {"$filter": "status eq 'Active"},
        {"$filter": "(status eq 'Active'"},
        {"$filter": "status eq 'Active')"},
        {"$filter": "status eq New"},
        {"$filter": "nonsense eq 'x'"},
        {"$filter": "status"},
        {"$filter": "'Active'"},
        {"$filter": "status and type"},
        {"$filter": "not status"},
        {"$filter": "not(status eq 'New')"},
        {"$filter": "contains(name, 'x')"},
        {"$filter": "tolower(name) eq 'x'"},
        {"$filter": "status in ('New', 'Active')"},
        {"$filter": "details/dealValue add 1 eq 2"},
        {"$filter": "team/all(t: t/email eq 'x')"},
        {"$filter": "team/any(status: status/email eq 'x')"},
        {"$filter": "not (" * 600 + "status eq 'New'" + ")" * 600},
        {"$filter": "status eq '" + "x" * 5000 + "'"},
        {"$filter": "§§§"},
        {"$filter": "geo.distance(x, y) eq 1"},
    ],
)
async def test_unsupported_or_broken_options_are_400(
    admin: httpx.AsyncClient, params: dict[str, str]
) -> None:
    await create(admin)

    response = await admin.get(REFERRALS, params=params)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalidRequest"
    assert error["innerError"]["code"] == "invalidQuery"


async def test_redundant_parentheses_are_fine(
    admin: httpx.AsyncClient, three: list[dict[str, Any]]
) -> None:
    expression = "(" * 600 + "name eq 'Gamma'" + ")" * 600
    assert await ids(admin, **{"$filter": expression}) == [three[2]["id"]]


async def test_repeated_option_is_400(admin: httpx.AsyncClient) -> None:
    response = await admin.get(f"{REFERRALS}?$top=1&$top=2")

    assert response.status_code == 400


async def test_non_odata_parameters_are_ignored(
    admin: httpx.AsyncClient, three: list[dict[str, Any]]
) -> None:
    assert len(await ids(admin, **{"api-version": "1.0"})) == 3


async def test_expand_is_accepted_and_changes_nothing(
    admin: httpx.AsyncClient, three: list[dict[str, Any]]
) -> None:
    assert await ids(admin, **{"$expand": "team"}) == [r["id"] for r in three]


async def test_select_takes_every_top_level_property(
    admin: httpx.AsyncClient, three: list[dict[str, Any]]
) -> None:
    body = (
        await admin.get(REFERRALS, params={"$select": "salesStage,registrations,isSpam"})
    ).json()

    assert body["value"][0] == {"salesStage": None, "registrations": [], "isSpam": False}
