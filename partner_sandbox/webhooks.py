"""Partner Center's webhook registration API, per organisation (tenant), as the sandbox serves it.

[docs] learn.microsoft.com partner-center/developer/partner-center-webhooks, and the REST
reference `rest/api/partner-center/webhook/create-registration-partner`:

    GET    /webhooks/v1/registration/events                the event names
    POST   /webhooks/v1/registration                       {webhookUrl, webhookEvents,
                                                           signatureTokenToMsSignatureHeader}
    GET    /webhooks/v1/registration                       the registration
    PUT    /webhooks/v1/registration                       replace it
    DELETE /webhooks/v1/registration                       remove it
    POST   /webhooks/v1/registration/validationEvents      a test-created event: {correlationId}
                                                           (2 per minute)
    GET    /webhooks/v1/registration/validationEvents/{id} its delivery attempts

Auth: a bearer token of this sandbox for the Partner Center API; the documented audience
`https://api.partnercenter.microsoft.com` and the Referrals API's `https://api.partner.microsoft.com`
are both accepted. App-only tokens are accepted too ([docs] "supports authentication with both
standalone App and App+User credentials"); a delegated token needs a Referrals role, and changing
the registration needs Referrals Admin [guess: the sandbox models no Partner Center roles but
these]. Member names bind in any case, unknown members are ignored (Web API, as the referrals).
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from partner_sandbox.config import PARTNER_API_AUDIENCE, ROLE_ADMIN, ROLE_USER
from partner_sandbox.responses import ApiError, json_response, read_body
from partner_sandbox.store import wire_time
from partner_sandbox.tokens import Principal, TokenError
from partner_sandbox.webhook_delivery import Registration, Validation, change_time

if TYPE_CHECKING:
    from partner_sandbox.app import Sandbox

REGISTRATION_PATH: Final = "/webhooks/v1/registration"
WEBHOOK_AUDIENCES: Final = frozenset(
    {"https://api.partnercenter.microsoft.com", PARTNER_API_AUDIENCE}
)
# [docs] partner-center-webhook-events: the referral events and the test event.
REFERRAL_EVENTS: Final = (
    "referral-created",
    "referral-updated",
    "related-referral-created",
    "related-referral-updated",
)
TEST_EVENT: Final = "test-created"
EVENTS: Final = (*REFERRAL_EVENTS, TEST_EVENT)
_MAX_BODY: Final = 64_000


def _unauthenticated(message: str) -> ApiError:
    return ApiError(
        401,
        "unauthenticated",
        message,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


class WebhooksApi:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._tests: dict[str, deque[float]] = {}  # org -> times of recent test events

    def routes(self) -> list[Route]:
        return [
            Route(REGISTRATION_PATH + "/events", self.events, methods=["GET"]),
            Route(
                REGISTRATION_PATH,
                self.registration,
                methods=["GET", "POST", "PUT", "DELETE"],
            ),
            Route(REGISTRATION_PATH + "/validationEvents", self.send_test, methods=["POST"]),
            Route(REGISTRATION_PATH + "/validationEvents/{id}", self.test_status, methods=["GET"]),
        ]

    def _org(self, request: Request, *, write: bool = False) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthenticated("No bearer token was sent.")
        try:
            principal: Principal = self._sandbox.tokens.verify(token.strip(), WEBHOOK_AUDIENCES)
        except TokenError as exc:
            raise _unauthenticated(exc.reason) from None
        orgs = {org.id for org in self._sandbox.config.organizations}
        if principal.tenant_id not in orgs:
            raise _unauthenticated("The token's tenant is not a Partner Center organization.")
        if not principal.app_only:
            roles = set(principal.roles)
            if ROLE_ADMIN not in roles and (write or ROLE_USER not in roles):
                raise ApiError(403, "accessDenied", "The user may not manage webhooks.")
        return principal.tenant_id

    async def events(self, request: Request) -> Response:
        self._org(request)
        return json_response(list(EVENTS))

    async def registration(self, request: Request) -> Response:
        method = request.method
        org_id = self._org(request, write=method != "GET")
        registrations = self._sandbox.webhooks.registrations
        current = registrations.get(org_id)
        if method == "GET":
            if current is None:
                raise ApiError(404, "itemNotFound", "No webhook registration exists.")
            return json_response(current.wire())
        if method == "DELETE":
            if current is None:
                raise ApiError(404, "itemNotFound", "No webhook registration exists.")
            del registrations[org_id]
            return Response(status_code=204)
        if method == "POST" and current is not None:
            raise ApiError(409, "conflict", "A registration already exists; use PUT to change it.")
        if method == "PUT" and current is None:
            raise ApiError(404, "itemNotFound", "No webhook registration exists; POST one.")
        url, events, ms_header = _bind_registration(await _json_object(request))
        registration = Registration(
            subscriber_id=current.subscriber_id if current else str(uuid.uuid4()),
            webhook_url=url,
            events=events,
            ms_signature_header=ms_header,
            modified=wire_time(self._sandbox.clock()),
            base_url=str(request.base_url).rstrip("/"),
        )
        registrations[org_id] = registration
        return json_response(registration.wire())

    async def send_test(self, request: Request) -> Response:
        org_id = self._org(request, write=True)
        registration = self._sandbox.webhooks.registrations.get(org_id)
        if registration is None or TEST_EVENT not in registration.events:
            raise ApiError(
                400, "invalidRequest", "Register for the test-created event before testing."
            )
        now = self._sandbox.clock()
        recent = self._tests.setdefault(org_id, deque())
        while recent and recent[0] <= now - 60:
            recent.popleft()
        if len(recent) >= self._sandbox.config.webhook_validations_per_minute:
            wait = max(1, int(recent[0] + 60 - now + 0.999))
            raise ApiError(
                429,
                "throttled",
                "Too many test events: at most 2 per minute.",
                headers={"Retry-After": str(wait)},
            )
        recent.append(now)
        correlation_id = str(uuid.uuid4())
        base = str(request.base_url).rstrip("/")
        body = json.dumps(
            {
                "EventName": TEST_EVENT,
                "ResourceUri": f"{base}{REGISTRATION_PATH}/validationEvents/{correlation_id}",
                "ResourceName": "test",
                "AuditUri": None,
                "ResourceChangeUtcDate": change_time(now),
            },
            separators=(",", ":"),
        ).encode()
        dispatcher = self._sandbox.webhooks
        dispatcher.validations[correlation_id] = Validation(
            correlation_id, org_id, registration.webhook_url
        )
        dispatcher.enqueue(registration, org_id, body, correlation_id)
        return json_response({"correlationId": correlation_id})

    async def test_status(self, request: Request) -> Response:
        org_id = self._org(request)
        validation = self._sandbox.webhooks.validations.get(str(request.path_params["id"]))
        if validation is None or validation.org_id != org_id:
            raise ApiError(404, "itemNotFound", "No test event with this correlation id.")
        return json_response(
            {
                "correlationId": validation.correlation_id,
                "partnerId": validation.org_id,
                "status": validation.status,
                "callbackUrl": validation.callback_url,
                "results": validation.results,
            }
        )

    def clear(self) -> None:
        self._tests.clear()


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await read_body(request, _MAX_BODY)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalidRequest", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalidRequest", "The body must be a registration object.")
    return {str(k).lower(): v for k, v in body.items()}  # Web API binds names in any case


def _bind_registration(body: dict[str, Any]) -> tuple[str, tuple[str, ...], bool]:
    url = body.get("webhookurl")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiError(400, "invalidRequest", "webhookUrl must be an absolute http(s) URL.")
    events = body.get("webhookevents")
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise ApiError(400, "invalidRequest", "webhookEvents must be a list of event names.")
    chosen = tuple(dict.fromkeys(e.strip().lower() for e in events))
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown:
        raise ApiError(400, "invalidRequest", "webhookEvents names an unsupported event.")
    flag = body.get("signaturetokentomssignatureheader", False)
    if isinstance(flag, str) and flag.lower() in ("true", "false"):
        flag = flag.lower() == "true"  # Json.NET binds "true" to a boolean
    if not isinstance(flag, bool):
        raise ApiError(400, "invalidRequest", "signatureTokenToMsSignatureHeader is a boolean.")
    return str(url), chosen, flag
