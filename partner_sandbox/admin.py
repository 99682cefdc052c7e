"""The admin API under `/_sandbox` (outside `/v1.0`, never faulted, loopback clients only).

GET  /_sandbox/stats                   referrals stored, per engagement, per externalReferenceId,
                                       Microsoft-targeted per engagement; requests by route and
                                       status; token requests by grant; faults injected
GET  /_sandbox/config                  organisations and users (ids, aliases, roles)
GET  /_sandbox/faults                  current fault spec, latency, scripted faults, seed
PUT  /_sandbox/faults                  {"spec"?, "latency"?, "tokenEndpoint"?, "seed"?}
POST /_sandbox/faults/next             {"fault": "lost", "route"?: "create", "count"?: 1}
POST /_sandbox/reset                   {"tokens"?: false} forget referrals, stats, scripted
                                       faults (and refresh tokens); restart the seeded sequence
POST /_sandbox/refresh-tokens/revoke   {"user"?: "admin"} refresh tokens now fail (AADSTS700082)
POST /_sandbox/tokens                  {"user"?: "admin", "lifetimeSeconds"?, "clientId"?}
                                       a token response (access + refresh) for a configured user
POST /_sandbox/settle                  land every pending late commit now: {"landed": n}
POST /_sandbox/referrals               store a referral verbatim (?organization=<id>): 201
POST /_sandbox/referrals/incoming      an incoming referral for us (New/Pending):
                                       {"from"?: "microsoft"|"partner", "organization"?,
                                        "engagementId"?, "referral"?: {...overrides}}: 201
POST /_sandbox/referrals/{id}/{action} accept, decline, close, expire, as Microsoft would;
                                       {"substatus"?: "Won"|"Lost", "statusReason"?}
GET  /_sandbox/webhooks                registrations and delivery counts
GET  /_sandbox/webhooks/ca.pem         the root the webhook signing certificate chains to
GET  /_sandbox/webhooks/pcnotifications-dispatch.cer
                                       the signing certificate (DER), as X-MS-Certificate-Url
                                       names it; any client (Microsoft's is a public blob)
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from partner_sandbox.config import FaultSpec, parse_latency_map
from partner_sandbox.faults import Fault
from partner_sandbox.lifecycle import LifecycleError, act, send_incoming, store_verbatim
from partner_sandbox.responses import json_response, read_body
from partner_sandbox.webhook_delivery import CERTIFICATE_PATH

if TYPE_CHECKING:
    from partner_sandbox.app import Sandbox

Handler = Callable[[Request], Awaitable[Response]]
_ADMIN_MAX_BODY = 1_000_000  # a stored referral can be as large as a created one


class AdminError(Exception):
    pass


def _is_loopback(request: Request) -> bool:
    client = request.scope.get("client")
    if not client:
        return True  # a Unix socket or an in-process call
    host = str(client[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _object(request: Request) -> dict[str, Any]:
    raw = await read_body(request, _ADMIN_MAX_BODY)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise AdminError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise AdminError("the body must be a JSON object")
    return body


def _guarded(handler: Handler) -> Handler:
    async def run(request: Request) -> Response:
        if not _is_loopback(request):
            return json_response({"error": "the admin API answers loopback clients only"}, 403)
        try:
            return await handler(request)
        except (AdminError, LifecycleError, ValueError, KeyError, TypeError) as exc:
            message = str(exc) if not isinstance(exc, KeyError) else "no such user"
            return json_response({"error": message}, 400)

    return run


class AdminApi:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def routes(self) -> list[Route]:
        return [
            Route("/stats", _guarded(self.stats), methods=["GET"]),
            Route("/config", _guarded(self.config), methods=["GET"]),
            Route("/faults", _guarded(self.get_faults), methods=["GET"]),
            Route("/faults", _guarded(self.put_faults), methods=["PUT"]),
            Route("/faults/next", _guarded(self.next_fault), methods=["POST"]),
            Route("/reset", _guarded(self.reset), methods=["POST"]),
            Route("/refresh-tokens/revoke", _guarded(self.revoke), methods=["POST"]),
            Route("/tokens", _guarded(self.tokens), methods=["POST"]),
            Route("/settle", _guarded(self.settle), methods=["POST"]),
            Route("/referrals", _guarded(self.store_referral), methods=["POST"]),
            Route("/referrals/incoming", _guarded(self.incoming), methods=["POST"]),
            Route("/referrals/{id}/{action}", _guarded(self.act), methods=["POST"]),
            Route("/webhooks", _guarded(self.webhooks), methods=["GET"]),
            Route("/webhooks/ca.pem", _guarded(self.ca_pem), methods=["GET"]),
            Route(CERTIFICATE_PATH.removeprefix("/_sandbox"), self.certificate, methods=["GET"]),
        ]

    async def settle(self, request: Request) -> Response:
        return json_response({"landed": await self._sandbox.settle_async()})

    async def incoming(self, request: Request) -> Response:
        body = await _object(request)
        for key in ("from", "organization", "engagementId"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise AdminError(f"{key} must be a string")
        stored = send_incoming(
            self._sandbox,
            org_id=body.get("organization"),
            sender=str(body.get("from", "microsoft")).lower(),
            engagement_id=body.get("engagementId"),
            overrides=body.get("referral"),
        )
        return json_response(stored, 201)

    async def webhooks(self, request: Request) -> Response:
        dispatcher = self._sandbox.webhooks
        return json_response(
            {
                "registrations": {
                    org: registration.wire()
                    for org, registration in dispatcher.registrations.items()
                },
                "deliveries": dispatcher.stats(),
            }
        )

    async def ca_pem(self, request: Request) -> Response:
        return Response(self._sandbox.webhook_ca_pem(), media_type="application/x-pem-file")

    async def certificate(self, request: Request) -> Response:
        return Response(
            self._sandbox.webhooks.signer.certificate_der(),
            media_type="application/pkix-cert",
        )

    async def store_referral(self, request: Request) -> Response:
        stored = store_verbatim(
            self._sandbox, await _object(request), request.query_params.get("organization")
        )
        return json_response(stored, 201)

    async def act(self, request: Request) -> Response:
        body = await _object(request)
        substatus, reason = body.get("substatus"), body.get("statusReason")
        if substatus is not None and not isinstance(substatus, str):
            raise AdminError("substatus must be a string")
        if reason is not None and not isinstance(reason, str):
            raise AdminError("statusReason must be a string")
        updated = act(
            self._sandbox,
            str(request.path_params["id"]),
            str(request.path_params["action"]),
            substatus=substatus,
            status_reason=reason,
        )
        return json_response(updated)

    async def stats(self, request: Request) -> Response:
        return json_response(self._sandbox.stats())

    async def config(self, request: Request) -> Response:
        config = self._sandbox.config
        return json_response(
            {
                "organizations": [
                    {
                        "id": org.id,
                        "name": org.name,
                        "users": [
                            {"alias": u.alias, "oid": u.oid, "roles": list(u.roles)}
                            for u in org.users
                        ],
                    }
                    for org in config.organizations
                ],
                "tokenLifetimeSeconds": config.token_lifetime_s,
                "refreshTokenReuse": config.refresh_token_reuse,
                "createStatus": config.create_status,
                "pageSize": config.page_size,
            }
        )

    async def get_faults(self, request: Request) -> Response:
        return json_response(self._sandbox.faults.describe())

    async def put_faults(self, request: Request) -> Response:
        body = await _object(request)
        unknown = set(body) - {"spec", "latency", "tokenEndpoint", "seed"}
        if unknown:
            raise AdminError(f"unknown settings: {', '.join(sorted(unknown))}")
        latency = body.get("latency")
        if latency is not None and not isinstance(latency, dict):
            raise AdminError("latency must be an object of route -> 'FIXED+JITTER'")
        token_endpoint = body.get("tokenEndpoint")
        if token_endpoint is not None and not isinstance(token_endpoint, bool):
            raise AdminError("tokenEndpoint must be true or false")
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise AdminError("seed must be an integer")
        spec = body.get("spec")
        if spec is not None and not isinstance(spec, str):
            raise AdminError("spec must be a SPEC string, e.g. '429=0.05,drop=0.01'")
        self._sandbox.faults.configure(
            spec=FaultSpec.parse(spec) if spec is not None else None,
            latency=parse_latency_map(latency) if latency is not None else None,
            token_endpoint=token_endpoint,
            seed=seed,
        )
        return json_response(self._sandbox.faults.describe())

    async def next_fault(self, request: Request) -> Response:
        body = await _object(request)
        try:
            fault = Fault(str(body.get("fault")))
        except ValueError:
            known = ", ".join(f.value for f in Fault)
            raise AdminError(f"fault must be one of {known}") from None
        count = body.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool):
            raise AdminError("count must be an integer")
        self._sandbox.faults.script(fault, str(body.get("route", "*")), count)
        return json_response(self._sandbox.faults.describe())

    async def reset(self, request: Request) -> Response:
        body = await _object(request)
        self._sandbox.reset(tokens=bool(body.get("tokens", False)))
        return json_response(self._sandbox.stats())

    async def revoke(self, request: Request) -> Response:
        body = await _object(request)
        user = body.get("user")
        revoked = self._sandbox.tokens.revoke_refresh_tokens(str(user) if user else None)
        return json_response({"revoked": revoked})

    async def tokens(self, request: Request) -> Response:
        body = await _object(request)
        lifetime = body.get("lifetimeSeconds")
        if lifetime is not None and (not isinstance(lifetime, int) or isinstance(lifetime, bool)):
            raise AdminError("lifetimeSeconds must be an integer")
        result = self._sandbox.tokens.issue_for_user(
            str(body.get("user", "admin")),
            client_id=str(body.get("clientId", "sandbox-client")),
            lifetime_s=lifetime,
        )
        return json_response(result)
