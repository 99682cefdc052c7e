"""The sandbox ASGI app: `create_app(config) -> SandboxApp` (a Starlette app).

`SandboxApp.__call__` wraps every HTTP request, outside Starlette's own middleware, with what
must happen before any route runs or after it answers:

1. land the late commits that are due on the sandbox clock (time-based faults are lazy),
2. classify the request into a route name (`create`, `list`, `get`, `update`, `replace`,
   `token`, `devicecode`, `discovery`, `other`; the admin API is not counted),
3. ask the fault injector (faultable routes only) for latency and a fault,
4. add `request-id` and the echoed `client-request-id` to the response headers,
5. count the outcome (status code, or `drop`/`hang`/`lost`/`late-504`/...) per route.

Latency is the time from the request's arrival to its answer (or its drop), as a client sees a
real service's: the sandbox does the request's work at once and holds the answer until the
latency has passed, so its own processing time is inside the latency rather than added to it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import Message, Receive, Scope, Send

from partner_sandbox.admin import AdminApi
from partner_sandbox.api import (
    COLLECTION,
    DOCUMENTED_COLLECTION,
    LATE_SCOPE_KEY,
    WEBHOOK_RESOURCE,
    ReferralsApi,
)
from partner_sandbox.clock import Clock, ClockSource
from partner_sandbox.config import SandboxConfig
from partner_sandbox.faults import (
    Connections,
    Fault,
    FaultInjector,
    LateAnswer,
    hold_until_disconnect,
)
from partner_sandbox.identity import Identity
from partner_sandbox.late import LateCommits
from partner_sandbox.rate_cap import RateCap
from partner_sandbox.resource import targets_microsoft
from partner_sandbox.responses import (
    REQUEST_ID_SCOPE_KEY,
    ApiError,
    Throttled,
    entra_error,
    graph_error,
    throttled_response,
)
from partner_sandbox.store import Referral, ReferralStore
from partner_sandbox.tokens import TokenService
from partner_sandbox.webhook_delivery import WebhookDispatcher
from partner_sandbox.webhooks import REGISTRATION_PATH, WebhooksApi

API_ROUTES: Final = frozenset({"create", "list", "get", "update", "replace"})
TOKEN_ROUTES: Final = frozenset({"token", "devicecode"})
_ITEM_PREFIX: Final = COLLECTION + "/"
_COLLECTION_METHODS: Final = {"POST": "create", "GET": "list"}
_ITEM_METHODS: Final = {"GET": "get", "PATCH": "update", "PUT": "replace"}


def route_of(method: str, path: str) -> str | None:
    """The route name used for latency, faults and stats; None for the admin API."""
    if path in (COLLECTION, DOCUMENTED_COLLECTION):
        return _COLLECTION_METHODS.get(method, "other")
    if path.startswith(_ITEM_PREFIX):
        rest = path[len(_ITEM_PREFIX) :]
        rest = rest[:-1] if rest.endswith("/") else rest  # the deal-registration path
        return _ITEM_METHODS.get(method, "other") if rest and "/" not in rest else "other"
    if path.startswith("/_sandbox/"):
        return None
    if path.startswith(WEBHOOK_RESOURCE):  # the ResourceUri webhook events carry
        return "get" if method == "GET" else "other"
    if path.startswith(REGISTRATION_PATH):
        return "webhooks"
    if path.endswith("/oauth2/v2.0/token"):
        return "token"
    if path.endswith("/oauth2/v2.0/devicecode"):
        return "devicecode"
    if path.endswith("/.well-known/openid-configuration") or path.endswith("/discovery/v2.0/keys"):
        return "discovery"
    return "other"


class Sandbox:
    """All state of one sandbox: referrals, tokens, faults, live connections, request counts."""

    def __init__(self, config: SandboxConfig, clock: ClockSource | None = None) -> None:
        self.config = config
        self._clock = Clock(clock or config.clock)
        self.store = ReferralStore(config.seed)
        self.tokens = TokenService(config, self._clock)
        self.faults = FaultInjector(config)
        self.late = LateCommits()
        self.rate_cap = RateCap()
        self.connections = Connections()
        self.webhooks = WebhookDispatcher(config, self._clock, lambda: self.faults.spec)
        self.requests: defaultdict[str, Counter[str]] = defaultdict(Counter)
        # How injected latency waits; tests swap in a recorder.
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.api: ReferralsApi | None = None  # set by create_app
        self.webhooks_api: WebhooksApi | None = None

    @property
    def clock(self) -> Clock:
        """The sandbox's wall clock (POSIX seconds) for everything time-based."""
        return self._clock

    @clock.setter
    def clock(self, source: ClockSource) -> None:
        self._clock.source = source

    def settle(self, *, due_only: bool = False) -> int:
        """Land pending late commits (all of them, or those due on the clock) and, unless
        `due_only`, send every pending webhook delivery now, waiting for them. Returns how many
        commits landed. On the event loop the sandbox's deliveries run on, this cannot wait:
        there `await settle_async()` (it raises rather than return with deliveries pending)."""
        landed = self._land(due_only)
        if due_only or not self.webhooks.pending():
            return landed
        loop = self.webhooks.loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None:
            raise RuntimeError("webhook deliveries are pending: await sandbox.settle_async()")
        if loop is not None and loop.is_running():  # the sandbox serves from another thread
            asyncio.run_coroutine_threadsafe(self.webhooks.drain(), loop).result()
        else:
            asyncio.run(self.webhooks.drain())
        return landed

    async def settle_async(self) -> int:
        """`settle()` for callers on an event loop: lands every late commit, then waits until
        every webhook delivery (retries included, without their backoff) has been made."""
        landed = self._land(False)
        await self.webhooks.drain()
        return landed

    def _land(self, due_only: bool) -> int:
        assert self.api is not None
        landed = self.late.pop_due(self._clock() if due_only else None)
        for commit in landed:
            self.api.commit_new(commit.org_id, commit.referral, commit.due)
        return len(landed)

    def referral_changed(
        self, org_id: str, referral: Referral, *, created: bool, by_microsoft: bool = False
    ) -> None:
        """Tell the organisation's webhook registration. A change Microsoft makes to the
        co-sell referral that targets Microsoft is a `related-referral-*` event (the related,
        connected referral); every other change is `referral-*` [guess: the split is ours]."""
        kind = "created" if created else "updated"
        related = by_microsoft and targets_microsoft(referral)
        event = f"related-referral-{kind}" if related else f"referral-{kind}"
        self.webhooks.notify(org_id, event, WEBHOOK_RESOURCE + referral["id"], self._clock())

    def webhook_ca_pem(self) -> str:
        """The root certificate (PEM) the sandbox's webhook signing certificate chains to."""
        return self.webhooks.signer.ca_pem()

    def token(self, user: str = "admin", *, lifetime_s: int | None = None) -> str:
        """A bearer token for a configured user (alias `admin`, `user`, `norole`, an oid or upn)."""
        org, found = self.tokens.find_user(user)
        token, _ = self.tokens.access_token(
            org, found, client_id="sandbox-client", lifetime_s=lifetime_s
        )
        return token

    def stats(self) -> dict[str, Any]:
        return {
            "referrals": self.store.stats(),
            "requests": {route: dict(counts) for route, counts in sorted(self.requests.items())},
            "tokenRequests": dict(self.tokens.requests_by_grant),
            "faults": dict(self.faults.injected),
            "lateCommits": self.late.stats(),
            "webhooks": self.webhooks.stats(),
        }

    def reset(self, *, tokens: bool = False) -> None:
        self.store.clear()
        self.requests.clear()
        self.faults.reset()
        self.late.clear()
        self.rate_cap.clear()
        self.webhooks.clear()
        if self.webhooks_api is not None:
            self.webhooks_api.clear()
        if tokens:
            self.tokens.reset()
        else:
            self.tokens.requests_by_grant.clear()


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return graph_error(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        error = ApiError(404, "itemNotFound", "No resource matches the request path.")
    elif exc.status_code == 405:
        error = ApiError(405, "methodNotAllowed", "The method is not allowed on this resource.")
    else:
        error = ApiError(exc.status_code, "invalidRequest", "The request is not valid.")
    error.headers.update(headers)
    return graph_error(request, error)


def _throttled(style: str) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Throttled)
        return throttled_response(request, exc.retry_after, style)

    return handle


async def _server_error(request: Request, exc: Exception) -> Response:
    return graph_error(
        request, ApiError(500, "generalException", "The sandbox failed to handle the request.")
    )


class SandboxApp(Starlette):
    """Starlette app plus the per-request wrapper (faults, ids, stats). `.sandbox` is its state."""

    sandbox: Sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        sandbox = self.sandbox
        if len(sandbox.late):
            sandbox.settle(due_only=True)
        route = route_of(scope["method"], scope["path"])
        request_id = str(uuid.uuid4())
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        extra = [(b"request-id", request_id.encode())]
        for name, value in scope["headers"]:
            if name == b"client-request-id":
                extra.append((b"client-request-id", value))
                break
        status = 0

        async def send_with_ids(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        faultable = route in API_ROUTES or (route in TOKEN_ROUTES and sandbox.faults.token_endpoint)
        decision = sandbox.faults.decide(route) if faultable and route else None
        due = sandbox.clock() + decision.delay_s if decision and decision.delay_s else None

        async def until_due() -> None:
            nonlocal due
            if due is not None:
                left, due = due - sandbox.clock(), None
                if left > 0:
                    await sandbox.sleep(left)

        async def send_when_due(message: Message) -> None:
            if message["type"] == "http.response.start":
                await until_due()
            await send_with_ids(message)

        outcome: str | None = None
        try:
            fault = decision.fault if decision is not None else None
            if fault is None:
                await super().__call__(scope, receive, send_when_due)
            elif fault in (Fault.THROTTLE, Fault.ERROR, Fault.UNAVAILABLE):
                response = self._fault_response(fault, route in TOKEN_ROUTES, scope)
                await response(scope, receive, send_when_due)
            elif fault is Fault.DROP:
                outcome = fault.value
                await until_due()
                await sandbox.connections.drop(scope)
            elif fault is Fault.HANG:
                outcome = fault.value
                await until_due()
                if not await hold_until_disconnect(receive, sandbox.config.hang_s):
                    await sandbox.connections.drop(scope)
            elif fault is Fault.LATE:  # committed later; the client sees a gateway failure
                assert decision is not None
                assert decision.late_answer is not None
                outcome = f"late-{decision.late_answer.value}"
                scope[LATE_SCOPE_KEY] = sandbox.clock() + decision.late_after_s
                await super().__call__(scope, receive, _swallow)
                if decision.late_answer is LateAnswer.GATEWAY_TIMEOUT:
                    await _gateway_timeout()(scope, receive, send_when_due)
                else:
                    await until_due()
                    if decision.late_answer is LateAnswer.DROP or not await hold_until_disconnect(
                        receive, sandbox.config.hang_s
                    ):
                        await sandbox.connections.drop(scope)
            else:  # LOST: the request takes effect, the answer never arrives
                outcome = fault.value
                await super().__call__(scope, receive, _swallow)
                await until_due()
                await sandbox.connections.drop(scope)
        finally:
            if route is not None:
                sandbox.requests[route][outcome or str(status or "none")] += 1

    def _fault_response(self, fault: Fault, token_route: bool, scope: Scope) -> Response:
        retry_after = self.sandbox.faults.spec.retry_after
        seconds = f"{retry_after:g}" if retry_after != int(retry_after) else str(int(retry_after))
        request = Request(scope)
        if token_route:
            code = {Fault.THROTTLE: 50196, Fault.ERROR: 90033, Fault.UNAVAILABLE: 90033}[fault]
            response = entra_error("temporarily_unavailable", code, "Try again later.", int(fault))
            if fault is not Fault.ERROR:
                response.headers["Retry-After"] = seconds
            return response
        if fault is Fault.THROTTLE:
            return throttled_response(request, seconds, self.sandbox.config.throttle_body)
        if fault is Fault.UNAVAILABLE:
            return graph_error(
                request,
                ApiError(
                    503,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable.",
                    headers={"Retry-After": seconds},
                ),
            )
        return graph_error(
            request, ApiError(500, "generalException", "An internal error occurred.")
        )


async def _swallow(message: Message) -> None:
    return None


def _gateway_timeout() -> Response:
    """What a gateway in front of the service answers when it gives up: not the API's JSON
    [guess: pessimistic, an HTML page]."""
    return Response(
        "<html><head><title>504 Gateway Time-out</title></head>"
        "<body><h1>504 Gateway Time-out</h1></body></html>",
        504,
        media_type="text/html",
    )


def create_app(
    config: SandboxConfig | None = None, *, clock: ClockSource | None = None
) -> SandboxApp:
    """A new sandbox (its own referrals, signing key and fault sequence). `clock` (POSIX
    seconds, default `config.clock`, i.e. `time.time`) drives everything time-based."""
    config = config or SandboxConfig()
    sandbox = Sandbox(config, clock)
    api = ReferralsApi(
        config,
        sandbox.store,
        sandbox.tokens,
        faults=sandbox.faults,
        late=sandbox.late,
        rate_cap=sandbox.rate_cap,
        clock=sandbox.clock,
        on_change=sandbox.referral_changed,
    )
    sandbox.api = api
    webhooks = sandbox.webhooks_api = WebhooksApi(sandbox)
    identity = Identity(sandbox.tokens, config.max_body_bytes)
    admin = AdminApi(sandbox)
    routes = [
        Route(COLLECTION, api.collection, methods=["GET", "POST"]),
        Route(DOCUMENTED_COLLECTION, api.collection, methods=["GET"]),  # documented nextLink
        Route(COLLECTION + "/{id}", api.item, methods=["GET", "PATCH", "PUT"]),
        # [swagger] PatchDealRegistrationByReferralId is `/referrals/{id}/`
        Route(COLLECTION + "/{id}/", api.item, methods=["PATCH"]),
        # [docs] webhook events' ResourceUri: {baseURL}/engagements/v1/referrals/{id}
        Route(WEBHOOK_RESOURCE + "{id}", api.item, methods=["GET"]),
        *webhooks.routes(),
        Route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            identity.openid_configuration,
            methods=["GET"],
        ),
        Route("/{tenant}/discovery/v2.0/keys", identity.keys, methods=["GET"]),
        Route("/{tenant}/oauth2/v2.0/token", identity.token, methods=["POST"]),
        Route("/{tenant}/oauth2/v2.0/devicecode", identity.devicecode, methods=["POST"]),
        Route("/devicelogin", identity.devicelogin, methods=["GET"]),
        Mount("/_sandbox", routes=admin.routes()),
    ]
    app = SandboxApp(
        routes=routes,
        exception_handlers={
            ApiError: _api_error,
            Throttled: _throttled(config.throttle_body),
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )
    app.sandbox = sandbox
    app.state.sandbox = sandbox
    return app
