"""Who may call the Referrals API: bearer tokens, roles, team visibility, organisations."""

from __future__ import annotations

import uuid

import httpx
import pytest

from partner_sandbox import Organization, SandboxApp, SandboxConfig, User, create_app
from partner_sandbox.config import DEFAULT_ORGANIZATION, ROLE_ADMIN
from tests.functional.sandbox.conftest import ClientFactory
from tests.functional.sandbox.helpers import REFERRALS, FakeClock, create, example

USER_UPN = "referrals.user@contoso.example"


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    message: str = error["message"]
    return message


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not-a-jwt", "Bearer a.b.c"],
)
async def test_missing_or_malformed_token_is_401(
    connect: ClientFactory, authorization: str | None
) -> None:
    client = connect(None)
    headers = {"Authorization": authorization} if authorization else {}

    response = await client.get(REFERRALS, headers=headers)

    assert_error(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_token_of_another_sandbox_is_401(connect: ClientFactory) -> None:
    foreign = create_app().sandbox.token("admin")

    response = await connect(None, token=foreign).get(REFERRALS)

    assert_error(response, 401, "unauthenticated")


async def test_expired_token_is_401(
    connect: ClientFactory, app: SandboxApp, clock: FakeClock
) -> None:
    client = connect(token=app.sandbox.token("admin", lifetime_s=60))
    assert (await client.get(REFERRALS)).status_code == 200

    clock.advance(60)

    message = assert_error(await client.get(REFERRALS), 401, "unauthenticated")
    assert "expired" in message


async def test_app_only_token_is_refused_with_403(connect: ClientFactory) -> None:
    tenant = DEFAULT_ORGANIZATION.id
    anonymous = connect(None)
    grant = await anonymous.post(
        f"/{tenant}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "app",
            "client_secret": "x",
            "scope": "https://api.partner.microsoft.com/.default",
        },
    )
    app_token = grant.json()["access_token"]

    for response in (
        await connect(None, token=app_token).get(REFERRALS),
        await connect(None, token=app_token).post(REFERRALS, json=example()),
    ):
        message = assert_error(response, 403, "accessDenied")
        assert "App-only" in message


async def test_user_without_a_referrals_role_is_403(connect: ClientFactory) -> None:
    client = connect("norole")

    assert_error(await client.get(REFERRALS), 403, "accessDenied")
    assert_error(await client.post(REFERRALS, json=example()), 403, "accessDenied")


async def test_referrals_user_cannot_create_or_update(
    connect: ClientFactory, admin: httpx.AsyncClient
) -> None:
    user = connect("user")
    mine = await create(admin, team=[{"email": USER_UPN}])
    path = f"{REFERRALS}/{mine['id']}"

    assert_error(await user.post(REFERRALS, json=example()), 403, "accessDenied")
    patch = [{"op": "replace", "path": "/name", "value": "x"}]
    assert_error(await user.patch(path, json=patch), 403, "accessDenied")
    assert_error(
        await user.put(path, json=example(), headers={"If-Match": mine["eTag"]}),
        403,
        "accessDenied",
    )


async def test_referrals_user_sees_only_referrals_whose_team_has_them(
    connect: ClientFactory, admin: httpx.AsyncClient
) -> None:
    user = connect("user")
    mine = await create(admin, team=[{"email": "someone@contoso.example"}, {"email": USER_UPN}])
    shouting = await create(admin, team=[{"email": USER_UPN.upper()}])
    other = await create(admin)  # team: john.doe@microsoft.com only
    no_team = await create(admin, team=None)

    listed = await user.get(REFERRALS, params={"$count": "true"})
    assert [r["id"] for r in listed.json()["value"]] == [mine["id"], shouting["id"]]
    assert listed.json()["@odata.count"] == 2
    assert (await user.get(f"{REFERRALS}/{mine['id']}")).status_code == 200
    for hidden in (other, no_team):
        assert_error(await user.get(f"{REFERRALS}/{hidden['id']}"), 404, "itemNotFound")
    assert len((await admin.get(REFERRALS)).json()["value"]) == 4


async def test_organizations_do_not_see_each_other(connect: ClientFactory) -> None:
    fabrikam = Organization(
        id=str(uuid.UUID(int=0xFAB)),
        name="Fabrikam",
        users=(User("fab", str(uuid.UUID(int=0xFAB1)), "a@fabrikam.example", "A", (ROLE_ADMIN,)),),
    )
    app = create_app(
        SandboxConfig(organizations=(DEFAULT_ORGANIZATION, fabrikam), clock=FakeClock())
    )
    contoso, other = connect("admin", target=app), connect("fab", target=app)
    ours = await create(contoso)

    theirs = await create(other)

    assert theirs["organizationId"] == fabrikam.id
    assert theirs["organizationName"] == "Fabrikam"
    assert_error(await other.get(f"{REFERRALS}/{ours['id']}"), 404, "itemNotFound")
    assert [r["id"] for r in (await other.get(REFERRALS)).json()["value"]] == [theirs["id"]]
    joined = await other.post(REFERRALS, json=example(engagementId=ours["engagementId"]))
    assert_error(joined, 400, "invalidRequest")
