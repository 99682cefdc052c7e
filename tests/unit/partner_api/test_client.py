"""The Partner API client on exact wire shapes (httpx.MockTransport), fake clock, fake tokens."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from shared.auth.errors import ReauthenticationRequired, TokenServiceUnavailable
from shared.partner_api.client import USER_AGENT, PartnerApiClient, correlation_header
from shared.partner_api.errors import (
    AccessDenied,
    AmbiguousResponse,
    ConfigurationError,
    InvalidRequest,
    NetworkError,
    NotFound,
    PartnerApiError,
    PermanentError,
    PreconditionFailed,
    RequestTimedOut,
    ServiceUnavailable,
    Throttled,
    Unauthenticated,
    UnexpectedResponse,
)
from shared.partner_api.odata import and_, eq
from shared.partner_api.retry import RetryPolicy
from tests.unit.partner_api.fakes import FakeClock, FakeTokens

BASE = "https://api.partner.example"
COLLECTION = f"{BASE}/v1.0/engagements/referrals"
WALL_NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()
CORRELATION = "0f8fad5b-d9cb-469f-a165-70867728950e"

Handler = Callable[[httpx.Request], httpx.Response]


class Server:
    """Answers requests from a script of responses (or exceptions); records the requests."""

    def __init__(self, *script: httpx.Response | Exception | Handler) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        return step(request)


def referral(**fields: Any) -> dict[str, Any]:
    return {"id": "r-1", "engagementId": "e-1", "name": "Deal", "status": "Active", **fields}


def ok(body: Any = None, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=referral() if body is None else body, headers=headers)


def graph(status: int, code: str, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"error": {"code": code, "message": f"{code} happened"}},
        headers={"request-id": f"rid-{status}", **headers},
    )


def make(
    server: Server, clock: FakeClock | None = None, tokens: FakeTokens | None = None
) -> tuple[PartnerApiClient, FakeClock, FakeTokens]:
    clock = clock or FakeClock()
    tokens = tokens or FakeTokens()
    client = PartnerApiClient(
        httpx.AsyncClient(transport=httpx.MockTransport(server)),
        tokens,
        base_url=BASE,
        retry=RetryPolicy(sleep=clock.sleep, clock=clock, max_wait=2.0),
        wall_clock=lambda: WALL_NOW,
    )
    return client, clock, tokens


async def create(
    client: PartnerApiClient, clock: FakeClock, *, retry_ambiguous: bool = False, budget: float = 60
) -> Any:
    return await client.create_referral(
        {"name": "Deal"},
        correlation_id=CORRELATION,
        deadline=clock.now + budget,
        retry_ambiguous=retry_ambiguous,
    )


async def listed_ids(client: PartnerApiClient, clock: FakeClock) -> list[str | None]:
    """Every referral id of an unfiltered list, across its pages."""
    return [
        r.id
        async for r in client.list_referrals(
            filter=None, correlation_id=CORRELATION, deadline=clock.now + 60
        )
    ]


# ---- headers ----------------------------------------------------------------------------------


async def test_every_request_carries_the_documented_headers() -> None:
    server = Server(ok(), ok())
    client, clock, tokens = make(server)

    created = await create(client, clock)
    await client.get_referral("r-1", correlation_id="not-a-guid", deadline=clock.now + 60)

    first, second = server.requests
    assert created.id == "r-1"
    assert first.method == "POST"
    assert str(first.url) == COLLECTION
    assert json.loads(first.content) == {"name": "Deal"}
    assert first.headers["Authorization"] == f"Bearer {tokens.current}"
    assert first.headers["Accept"] == "application/json"
    assert first.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("referral-relay/0.")
    assert first.headers["MS-CorrelationId"] == CORRELATION
    assert second.headers["MS-CorrelationId"] == correlation_header("not-a-guid")
    assert uuid.UUID(second.headers["MS-CorrelationId"]).version == 5
    ids = {r.headers["client-request-id"] for r in server.requests}
    assert len(ids) == 2
    assert all(uuid.UUID(i).version == 4 for i in ids)


async def test_timeouts_are_set_separately_and_capped_by_the_deadline() -> None:
    server = Server(ok(), ok())
    clock = FakeClock()
    client = PartnerApiClient(
        httpx.AsyncClient(transport=httpx.MockTransport(server)),
        FakeTokens(),
        base_url=BASE,
        retry=RetryPolicy(sleep=clock.sleep, clock=clock),
        connect_timeout=3.0,
        read_timeout=25.0,
    )

    await client.get_referral("r-1", correlation_id=CORRELATION, deadline=clock.now + 60)
    await client.get_referral("r-1", correlation_id=CORRELATION, deadline=clock.now + 10)

    roomy, tight = (r.extensions["timeout"] for r in server.requests)
    assert roomy == {"connect": 3.0, "read": 25.0, "write": 25.0, "pool": 3.0}
    assert tight == {"connect": 3.0, "read": 10.0, "write": 10.0, "pool": 3.0}


# ---- each error kind maps to its exception ----------------------------------------------------


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (graph(400, "invalidRequest"), InvalidRequest),
        (graph(403, "accessDenied"), AccessDenied),
        (graph(404, "itemNotFound"), NotFound),
        (graph(412, "preconditionFailed"), PreconditionFailed),
        (graph(409, "conflict"), UnexpectedResponse),  # on a get; on a create it is ambiguous
        (graph(202, "accepted"), UnexpectedResponse),
        (graph(501, "notImplemented"), UnexpectedResponse),
        (httpx.Response(418, text="<html>teapot</html>"), UnexpectedResponse),
    ],
)
async def test_permanent_errors_map_to_their_type_and_are_not_retried(
    response: httpx.Response, kind: type[PartnerApiError]
) -> None:
    server = Server(response)
    client, clock, _ = make(server)

    with pytest.raises(kind) as caught:
        await client.get_referral("r-1", correlation_id=CORRELATION, deadline=clock.now + 60)

    assert len(server.requests) == 1
    assert caught.value.status == response.status_code
    assert caught.value.client_request_id == server.requests[0].headers["client-request-id"]
    assert caught.value.request_id == response.headers.get("request-id")
    assert clock.waits == []


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (graph(429, "throttled"), Throttled),
        (httpx.Response(509, text="Bandwidth Limit Exceeded"), Throttled),
        (graph(500, "generalException"), ServiceUnavailable),
        (graph(502, "badGateway"), ServiceUnavailable),
        (graph(503, "serviceNotAvailable"), ServiceUnavailable),
        (graph(504, "gatewayTimeout"), ServiceUnavailable),
        (
            httpx.Response(502, text="<html>gateway</html>", headers={"request-id": "rid-html"}),
            ServiceUnavailable,
        ),
        (httpx.ConnectError("refused"), NetworkError),
        (httpx.RemoteProtocolError("server disconnected"), NetworkError),
        (httpx.ReadError("reset"), NetworkError),
        (httpx.ConnectTimeout("slow connect"), RequestTimedOut),
        (httpx.ReadTimeout("slow answer"), RequestTimedOut),
    ],
)
async def test_transient_errors_map_to_their_type_and_are_retried_until_success(
    response: httpx.Response | Exception, kind: type[PartnerApiError]
) -> None:
    server = Server(response, response, ok())
    client, clock, _ = make(server)

    got = await client.get_referral("r-1", correlation_id=CORRELATION, deadline=clock.now + 60)

    assert got.id == "r-1"
    assert len(server.requests) == 3
    assert len(clock.waits) == 2

    server = Server(response)
    client, clock, _ = make(server)
    with pytest.raises(kind) as caught:
        await client.get_referral("r-1", correlation_id=CORRELATION, deadline=clock.now + 3)
    assert caught.value.retry_after is not None  # type: ignore[attr-defined]
    if isinstance(response, httpx.Response):
        assert caught.value.status == response.status_code
        assert caught.value.request_id == response.headers.get("request-id")


async def test_invalid_request_carries_field_errors_in_our_shape() -> None:
    body = {
        "error": {
            "code": "invalidRequest",
            "message": "Validation failed",
            "details": [
                {
                    "code": "invalidCountry",
                    "message": "must be alpha-2",
                    "target": "customerProfile.address.country",
                },
            ],
        }
    }
    server = Server(httpx.Response(400, json=body, headers={"request-id": "rid-400"}))
    client, clock, _ = make(server)

    with pytest.raises(InvalidRequest) as caught:
        await create(client, clock)

    (error,) = caught.value.errors
    assert (error.path, error.code, error.message) == (
        "/customerProfile/address/country",
        "invalidCountry",
        "must be alpha-2",
    )
    assert caught.value.code == "invalidRequest"
    assert "rid-400" in str(caught.value)


# ---- Retry-After ------------------------------------------------------------------------------


async def test_retry_after_in_seconds_is_honoured() -> None:
    server = Server(graph(429, "throttled", **{"Retry-After": "9"}), ok())
    client, clock, _ = make(server)

    await create(client, clock)

    assert clock.waits == [9.0]


async def test_retry_after_as_http_date_is_honoured() -> None:
    when = format_datetime(datetime(2025, 3, 1, 12, 0, 42, tzinfo=UTC), usegmt=True)
    server = Server(graph(503, "serviceNotAvailable", **{"Retry-After": when}), ok())
    client, clock, _ = make(server)

    await client.get_referral("r-1", correlation_id=CORRELATION, deadline=clock.now + 60)

    assert clock.waits == [42.0]


async def test_throttling_body_without_header_gives_the_wait() -> None:
    body = {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}
    server = Server(httpx.Response(429, json=body), ok())
    client, clock, _ = make(server)

    await create(client, clock, budget=120)

    assert clock.waits == [57.0]


async def test_past_the_deadline_a_throttled_error_suggests_when_to_come_back() -> None:
    server = Server(graph(429, "throttled", **{"Retry-After": "300"}))
    client, clock, _ = make(server)

    with pytest.raises(Throttled) as caught:
        await create(client, clock, budget=45)

    assert clock.waits == []
    assert len(server.requests) == 1
    assert caught.value.retry_after == 300.0


# ---- the ambiguous-create rule ----------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("lost answer"),
        httpx.RemoteProtocolError("server disconnected without sending a response"),
        graph(500, "generalException"),
        graph(503, "serviceNotAvailable"),
    ],
)
async def test_an_ambiguous_create_failure_is_raised_at_once_unless_the_caller_allows(
    failure: httpx.Response | Exception,
) -> None:
    server = Server(failure, ok())
    client, clock, _ = make(server)

    with pytest.raises((NetworkError, RequestTimedOut, ServiceUnavailable)) as caught:
        await create(client, clock, retry_ambiguous=False)

    assert caught.value.ambiguous  # type: ignore[union-attr]
    assert len(server.requests) == 1

    server = Server(failure, ok())
    client, clock, _ = make(server)
    assert (await create(client, clock, retry_ambiguous=True)).id == "r-1"
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("no route"), graph(429, "throttled")],
)
async def test_a_create_that_provably_did_not_happen_is_retried_anyway(
    failure: httpx.Response | Exception,
) -> None:
    server = Server(failure, ok(status=201))
    client, clock, _ = make(server)

    created = await create(client, clock, retry_ambiguous=False)

    assert created.id == "r-1"
    assert len(server.requests) == 2


async def test_gets_are_retried_after_ambiguous_failures() -> None:
    server = Server(httpx.ReadTimeout("slow"), graph(500, "generalException"), ok())
    client, clock, _ = make(server)

    await client.get_referral("r-1", correlation_id=CORRELATION, deadline=clock.now + 60)

    assert len(server.requests) == 3


# ---- 401 and tokens ---------------------------------------------------------------------------


async def test_a_401_renews_the_token_once_and_resends() -> None:
    server = Server(graph(401, "unauthenticated"), ok())
    client, clock, tokens = make(server)

    await client.get_referral("r-1", correlation_id=CORRELATION, deadline=clock.now + 60)

    first, second = server.requests
    assert tokens.invalidated == ["access-token-1-7f3a9c51"]
    assert first.headers["Authorization"] == "Bearer access-token-1-7f3a9c51"
    assert second.headers["Authorization"] == "Bearer access-token-2-7f3a9c51"
    assert clock.waits == []


async def test_a_second_401_is_unauthenticated() -> None:
    server = Server(graph(401, "unauthenticated"))
    client, clock, tokens = make(server)

    with pytest.raises(Unauthenticated):
        await create(client, clock)

    assert len(server.requests) == 2
    assert len(tokens.invalidated) == 1


class BrokenTokens(FakeTokens):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    async def get_token(self) -> str:
        raise self.error


async def test_a_dead_refresh_token_surfaces_as_the_auth_error_without_a_request() -> None:
    server = Server(ok())
    client, clock, _ = make(
        server, tokens=BrokenTokens(ReauthenticationRequired("invalid_grant", aadsts="AADSTS70008"))
    )

    with pytest.raises(ReauthenticationRequired, match="referral-relay login"):
        await create(client, clock)

    assert server.requests == []


async def test_an_unreachable_token_endpoint_is_a_transient_unavailable_error() -> None:
    server = Server(ok())
    client, clock, _ = make(server, tokens=BrokenTokens(TokenServiceUnavailable("ConnectError")))

    with pytest.raises(ServiceUnavailable) as caught:
        await create(client, clock, budget=5)

    assert caught.value.code == "tokenEndpointUnavailable"
    assert not caught.value.ambiguous
    assert caught.value.retry_after is not None
    assert server.requests == []


# ---- list, get, patch -------------------------------------------------------------------------


async def test_list_follows_next_links_and_sends_the_escaped_filter() -> None:
    pages = {
        "1": {
            "value": [referral(id="a"), referral(id="b")],
            "@odata.nextLink": "/v1.0/engagements/referrals?page=2",
        },
        "2": {"value": [referral(id="c")], "@odata.nextLink": f"{COLLECTION}?page=3"},
        "3": {"value": []},
    }

    def page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[request.url.params.get("page", "1")])

    server = Server(page)
    client, clock, _ = make(server)
    query = and_(eq("externalReferenceId", "crm-O'Brien&1"), eq("type", "Shared")).render()

    ids = [
        r.id
        async for r in client.list_referrals(
            filter=query,
            top=2,
            orderby="createdDateTime desc",
            correlation_id=CORRELATION,
            deadline=clock.now + 60,
        )
    ]

    assert ids == ["a", "b", "c"]
    first = server.requests[0]
    assert (
        first.url.params["$filter"]
        == "externalReferenceId eq 'crm-O''Brien&1' and type eq 'Shared'"
    )
    assert first.url.params["$top"] == "2"
    assert first.url.params["$orderby"] == "createdDateTime desc"
    assert [str(r.url) for r in server.requests[1:]] == [
        f"{COLLECTION}?page=2",
        f"{COLLECTION}?page=3",
    ]


async def test_list_refuses_a_next_link_loop() -> None:
    server = Server(ok({"value": [], "@odata.nextLink": "/v1.0/engagements/referrals"}))
    client, clock, _ = make(server)

    with pytest.raises(UnexpectedResponse, match="repeats"):
        await listed_ids(client, clock)


async def test_a_referral_id_cannot_escape_its_path_segment() -> None:
    server = Server(ok())
    client, clock, _ = make(server)

    await client.get_referral("../x?y=1", correlation_id=CORRELATION, deadline=clock.now + 60)

    assert server.requests[0].url.raw_path == b"/v1.0/engagements/referrals/..%2Fx%3Fy%3D1"


async def test_patch_sends_json_patch_with_if_match_and_prefer() -> None:
    server = Server(ok(referral(status="Closed")), httpx.Response(204))
    client, clock, _ = make(server)
    operations = [{"op": "replace", "path": "/status", "value": "Closed"}]

    updated = await client.patch_referral(
        "r-1",
        operations,
        etag='"abc"',
        return_representation=True,
        correlation_id=CORRELATION,
        deadline=clock.now + 60,
    )
    nothing = await client.patch_referral(
        "r-1",
        operations,
        etag=None,
        return_representation=False,
        correlation_id=CORRELATION,
        deadline=clock.now + 60,
    )

    first, second = server.requests
    assert updated is not None
    assert updated.status == "Closed"
    assert nothing is None
    assert first.method == "PATCH"
    assert json.loads(first.content) == operations
    assert first.headers["If-Match"] == '"abc"'
    assert first.headers["Prefer"] == "return=representation"
    assert "If-Match" not in second.headers
    assert "Prefer" not in second.headers


async def test_a_success_whose_body_is_not_a_referral_is_an_unexpected_response(
    response_example: dict[str, Any],
) -> None:
    response_example["customerProfile"]["team"] = "Sue Smith sue.smith@contoso.com"
    server = Server(ok(response_example), httpx.Response(200, text="not json"))
    client, clock, _ = make(server)

    with pytest.raises(UnexpectedResponse) as caught:
        await create(client, clock)
    with pytest.raises(UnexpectedResponse, match="not JSON"):
        await create(client, clock)

    assert "customerProfile/team" in str(caught.value)
    assert "sue" not in str(caught.value).lower()


# ---- configuration problems: 401 after renewal, 403 -------------------------------------------

CLAIMS = "eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19"  # acrs c1


@pytest.mark.parametrize(
    ("response", "challenge", "contexts"),
    [
        (graph(403, "accessDenied"), "accessDenied", ()),
        (
            httpx.Response(
                403,
                json={"error": {"code": "accessDenied", "message": "Conditional Access"}},
                headers={
                    "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.'
                    'microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", '
                    f'claims="{CLAIMS}"'
                },
            ),
            "insufficient_claims",
            ("c1",),
        ),
        (  # the spelling of Microsoft's error-code page, in a body of its own shape
            httpx.Response(
                403, json={"error": "insufficent_claims", "claims": '{"access_token": {}}'}
            ),
            "insufficient_claims",
            (),
        ),
        (
            httpx.Response(
                403,
                json={
                    "error": {
                        "code": "InsufficientClaims",
                        "claims": '{"access_token":{"acrs":{"values":["c2","c3"]}}}',
                    }
                },
            ),
            "insufficient_claims",
            ("c2", "c3"),
        ),
        (httpx.Response(403, text="Forbidden"), None, ()),
    ],
)
async def test_a_403_is_access_denied_a_configuration_problem_with_its_challenge(
    response: httpx.Response, challenge: str | None, contexts: tuple[str, ...]
) -> None:
    server = Server(response)
    client, clock, tokens = make(server)

    with pytest.raises(AccessDenied) as caught:
        await create(client, clock)

    error = caught.value
    assert isinstance(error, ConfigurationError)
    assert not isinstance(error, PermanentError)  # handlers hold the message, never reject it
    assert error.CODE == "access_denied"
    assert error.status == 403
    assert error.challenge == challenge
    assert error.auth_contexts == contexts
    assert len(server.requests) == 1  # not retried, and no token renewal for a 403
    assert tokens.invalidated == []
    text = str(error) + repr(error.__dict__)
    assert tokens.current not in text
    assert CLAIMS not in text  # the claims request itself is not kept


async def test_a_401_that_survives_the_renewal_is_unauthenticated_with_its_challenge() -> None:
    challenged = httpx.Response(
        401, headers={"WWW-Authenticate": 'Bearer error="invalid_token", error_description="x"'}
    )
    server = Server(challenged)
    client, clock, tokens = make(server)

    with pytest.raises(Unauthenticated) as caught:
        await client.get_referral("r-1", correlation_id=CORRELATION, deadline=clock.now + 60)

    assert isinstance(caught.value, ConfigurationError)
    assert not isinstance(caught.value, PermanentError)
    assert caught.value.CODE == "unauthenticated"
    assert caught.value.challenge == "invalid_token"
    assert len(server.requests) == 2  # the first try and the one resend with a fresh token
    assert len(tokens.invalidated) == 1
    assert clock.waits == []
    assert "access-token" not in str(caught.value)


# ---- 509 --------------------------------------------------------------------------------------


async def test_a_509_is_throttled_and_its_retry_after_is_honoured() -> None:
    server = Server(httpx.Response(509, headers={"Retry-After": "11"}), ok(status=201))
    client, clock, _ = make(server)

    created = await create(client, clock, retry_ambiguous=False)

    assert created.id == "r-1"
    assert clock.waits == [11.0]
    assert len(server.requests) == 2


async def test_past_the_deadline_a_509_suggests_when_to_come_back() -> None:
    server = Server(httpx.Response(509, headers={"Retry-After": "120"}))
    client, clock, _ = make(server)

    with pytest.raises(Throttled) as caught:
        await create(client, clock, budget=45)

    assert caught.value.status == 509
    assert not caught.value.ambiguous  # a throttled request was refused, not half-done
    assert caught.value.retry_after == 120.0


# ---- 202 and 409 answering a create -----------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(202),
        httpx.Response(202, json={}),
        httpx.Response(202, json={"status": "accepted"}),
        httpx.Response(202, text="Accepted"),
        httpx.Response(202, json=referral(id=None)),
        graph(409, "conflict"),
        httpx.Response(409, json={"Message": "A referral with this id exists."}),
    ],
)
async def test_a_202_without_the_referral_or_a_409_on_create_is_ambiguous_and_not_retried(
    response: httpx.Response,
) -> None:
    server = Server(response, ok())
    client, clock, _ = make(server)

    with pytest.raises(AmbiguousResponse) as caught:
        await create(client, clock, retry_ambiguous=False)

    assert caught.value.ambiguous
    assert caught.value.status == response.status_code
    assert caught.value.CODE == "ambiguous_response"
    assert len(server.requests) == 1  # the handler looks the referral up before posting again
    assert clock.waits == []


async def test_a_202_whose_body_is_the_referral_is_a_success() -> None:
    server = Server(ok(referral(id="r-202"), status=202))
    client, clock, _ = make(server)

    created = await create(client, clock, retry_ambiguous=False)

    assert created.id == "r-202"
    assert len(server.requests) == 1


async def test_an_ambiguous_create_answer_is_retried_when_the_caller_tolerates_duplicates() -> None:
    server = Server(httpx.Response(202), ok())
    client, clock, _ = make(server)

    created = await create(client, clock, retry_ambiguous=True)

    assert created.id == "r-1"
    assert len(server.requests) == 2


# ---- nextLink on the same host ----------------------------------------------------------------


async def test_the_documented_next_link_is_followed_over_https_on_the_same_host() -> None:
    # As documented: http, and a path without /engagements.
    link = "http://API.partner.example/v1.0/referrals?$skiptoken=abc%3D%3D&$top=2"
    pages = [
        ok({"value": [referral(id="a")], "@odata.nextLink": link}),
        ok({"value": [referral(id="b")]}),
    ]
    server = Server(*pages)
    client, clock, _ = make(server)

    ids = await listed_ids(client, clock)

    assert ids == ["a", "b"]
    second = server.requests[1].url
    assert second.scheme == "https"
    assert second.host == "api.partner.example"
    assert second.path == "/v1.0/referrals"
    assert second.params["$skiptoken"] == "abc=="
    assert second.params["$top"] == "2"
    assert server.requests[1].headers["Authorization"].startswith("Bearer ")


async def test_on_a_loopback_sandbox_the_next_link_keeps_plain_http() -> None:
    base = "http://127.0.0.1:8765"
    server = Server(
        ok({"value": [], "@odata.nextLink": f"{base}/v1.0/referrals?$skiptoken=2"}),
        ok({"value": [referral(id="z")]}),
    )
    clock = FakeClock()
    client = PartnerApiClient(
        httpx.AsyncClient(transport=httpx.MockTransport(server)),
        FakeTokens(),
        base_url=base,
        retry=RetryPolicy(sleep=clock.sleep, clock=clock),
    )

    ids = await listed_ids(client, clock)

    assert ids == ["z"]
    assert str(server.requests[1].url) == f"{base}/v1.0/referrals?$skiptoken=2"


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example/steal",
        "https://evil.example/v1.0/engagements/referrals?page=2",
        "http://api.partner.example.evil.example/v1.0/referrals",
        "//evil.example/v1.0/referrals",
        "https://api.partner.example@evil.example/v1.0/referrals",
        "http://[::1/v1.0/referrals",
    ],
)
async def test_a_next_link_to_any_other_host_is_refused(link: str) -> None:
    server = Server(ok({"value": [referral()], "@odata.nextLink": link}))
    client, clock, _ = make(server)

    with pytest.raises(UnexpectedResponse, match="another host"):
        await listed_ids(client, clock)

    assert len(server.requests) == 1


async def test_a_next_link_repeating_a_page_in_another_spelling_is_refused() -> None:
    server = Server(
        ok({"value": [], "@odata.nextLink": "http://api.partner.example/v1.0/referrals?p=2"}),
        ok({"value": [], "@odata.nextLink": "https://api.partner.example/v1.0/referrals?p=2"}),
    )
    client, clock, _ = make(server)

    with pytest.raises(UnexpectedResponse, match="repeats"):
        await listed_ids(client, clock)

    assert len(server.requests) == 2


# ---- 400 bodies that are not Graph-style ------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            httpx.Response(
                400,
                json={
                    "Message": "The request is invalid.",
                    "ModelState": {
                        "referral.customerProfile.address.country": [
                            "The value 'Atlantis' is not valid for Country."
                        ],
                        "referral.CustomerProfile.Team[0].Email": ["Invalid email sue@contoso.com"],
                        "referral": ["An error has occurred."],
                    },
                },
            ),
            [
                ("/customerProfile/address/country", "http_400", "The value <value> is not valid"),
                ("/customerProfile/team/0/email", "http_400", "Invalid email <email>"),
                ("", "http_400", "An error has occurred."),
            ],
        ),
        (
            httpx.Response(400, json={"code": 600008, "description": "Missing 'Sue Smith'"}),
            [("", "600008", "Missing <value>")],
        ),
        (
            httpx.Response(
                400,
                json={
                    "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
                    "title": "One or more validation errors occurred.",
                    "status": 400,
                    "errors": {
                        "$.details.dealValue": ["The JSON value could not be converted."],
                        "CustomerProfile.Name": ["The Name field is required."],
                    },
                },
                headers={"Content-Type": "application/problem+json"},
            ),
            [
                ("/details/dealValue", "http_400", "The JSON value could not be converted."),
                ("/customerProfile/name", "http_400", "The Name field is required."),
            ],
        ),
        (
            httpx.Response(
                400,
                json={"title": "Bad Request", "detail": "consent is required", "status": 400},
                headers={"Content-Type": "application/problem+json"},
            ),
            [("", "http_400", "consent is required")],
        ),
        (
            httpx.Response(400, text="Bad Request - Invalid referral for joe@contoso.com"),
            [("", "http_400", "Bad Request - Invalid referral for <email>")],
        ),
        (
            httpx.Response(400, text="<html><body>Bad Request</body></html>"),
            [("", "http_400", "refused by the API")],
        ),
    ],
)
async def test_a_400_body_of_any_shape_keeps_its_field_errors_redacted(
    response: httpx.Response, expected: list[tuple[str, str, str]]
) -> None:
    server = Server(response)
    client, clock, _ = make(server)

    with pytest.raises(InvalidRequest) as caught:
        await create(client, clock)

    got = [(e.path, e.code, e.message) for e in caught.value.errors]
    assert [(path, code) for path, code, _ in got] == [(p, c) for p, c, _ in expected]
    for (_, _, message), (_, _, start) in zip(got, expected, strict=True):
        assert message.startswith(start)
    said = str(caught.value) + repr(caught.value.errors)
    for value in ("Atlantis", "sue@contoso.com", "Sue Smith", "joe@contoso.com"):
        assert value not in said
    assert len(server.requests) == 1
