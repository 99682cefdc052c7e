"""The Partner Center Referrals API client (httpx, async) — the adapter behind `port.PartnerApi`.

One `httpx.AsyncClient` per worker process (`create_http_client`), shared by every call;
`stack.build_partner_api` / `stack.partner_api_from_settings` assemble it with the token
provider, the retry policy and this client, once per worker (the only place that does).

Each HTTP request carries a new `client-request-id`, the caller's correlation id as
`MS-CorrelationId` (a non-GUID id is mapped to a stable UUIDv5, because the API documents a GUID
there), `Accept: application/json` and `User-Agent: referral-relay/<version>`.
Each response's `request-id` is logged and put on every error.

Timeouts: connect and read come from settings; each attempt's timeouts are also capped by the
time left before the caller's deadline (never below `MIN_ATTEMPT_TIMEOUT`).

Retries (`retry.RetryPolicy`, tenacity): 429, 509, 500, 502, 503, 504, connection errors and
timeouts, with jittered exponential backoff that honours `Retry-After` (seconds or HTTP-date;
for a 429 without the header, the "Try again in N seconds" of the body), until the deadline.
Other 4xx are never retried. A 401 drops the cached token, fetches a new one and resends once
per call; a 401 after that, and any 403, is a `ConfigurationError` (the deployment's sign-in or
role, not the message: handlers hold the message).

## The ambiguous-create rule

The API has no idempotency token, so a POST repeated after its effect was lost creates a second
referral. A create failure is **ambiguous** when the request may have been processed:

* the connection broke or timed out after the request was sent (read/write timeout, connection
  reset, server disconnected) — `NetworkError`/`RequestTimedOut` with `ambiguous=True`;
* any 5xx (500, 502, 503, 504): a gateway may have timed out while the service went on working,
  and even a 503 can come from a front end after the back end committed — `ambiguous=True`.
* 202 without the referral in the body (accepted for later processing) and 409 (a conflict with
  a referral that exists) — `AmbiguousResponse`, always `ambiguous=True`. A 202 whose body is the
  referral, with its id, is a success.

Not ambiguous (always retried): the connection could not be made (connect error or timeout, pool
timeout), the token endpoint failed (nothing was sent), and 429/509 (a throttled request was
refused).

`create_referral(..., retry_ambiguous=False)` raises an ambiguous failure at once; the handler
then looks the referral up by `externalReferenceId` and posts again only if it is not there
(design §4). With `retry_ambiguous=True` the client retries it like any transient error — only
for callers that can tolerate a duplicate. Get, list and patch are retried on every transient
error (send idempotent patches — `replace`, or an `If-Match` eTag).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import httpx
from pydantic import ValidationError

from shared import __version__
from shared.auth.errors import AuthError
from shared.auth.ports import TokenProvider
from shared.contracts.referral import Referral
from shared.loopback import is_loopback_host
from shared.partner_api.errors import (
    AccessDenied,
    AmbiguousResponse,
    InvalidRequest,
    NetworkError,
    NotFound,
    PartnerApiError,
    PreconditionFailed,
    RequestTimedOut,
    ServiceUnavailable,
    Throttled,
    TransientError,
    Unauthenticated,
    UnexpectedResponse,
)
from shared.partner_api.retry import RetryPolicy
from shared.partner_api.transport import SpreadTransport
from shared.partner_api.wire import parse_auth_challenge, parse_error_body, parse_retry_after
from shared.telemetry import hooks as telemetry

REFERRALS_PATH: Final = "/v1.0/engagements/referrals"
USER_AGENT: Final = f"referral-relay/{__version__} httpx/{httpx.__version__}"
MIN_ATTEMPT_TIMEOUT: Final = 1.0
_RETRYABLE_5XX: Final = frozenset({500, 502, 503, 504})
# 509 Bandwidth Limit Exceeded: "your app can retry the request again after more time has
# elapsed" (MicrosoftDocs/partner-rest, develop/error-codes.md). Refused, so never ambiguous.
_THROTTLED: Final = frozenset({429, 509})
# Answering a create, these mean the referral may exist: 202 accepted for later processing
# (without the referral in the body), 409 a conflict with one that exists.
_AMBIGUOUS_CREATE: Final = frozenset({202, 409})
_CORRELATION_NAMESPACE: Final = uuid.UUID("5b0a6c9e-8f3e-4f7a-9d1e-2c4b8e6f1a30")

logger = logging.getLogger("referral_relay.partner_api")


def create_http_client(
    *,
    connect_timeout: float,
    read_timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The worker's one shared `httpx.AsyncClient` for the Partner API."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        # Not httpx's default transport: one large httpcore pool costs more CPU than the rest of
        # a request at our concurrency (see shared/partner_api/transport.py).
        transport=transport or SpreadTransport(),
        follow_redirects=False,  # a redirect would carry our bearer token somewhere else
    )


def correlation_header(correlation_id: str) -> str:
    """The `MS-CorrelationId` value: the caller's id when it is a GUID, else a stable UUIDv5."""
    try:
        return str(uuid.UUID(correlation_id))
    except ValueError:
        return str(uuid.uuid5(_CORRELATION_NAMESPACE, correlation_id))


class PartnerApiClient:
    """`PartnerApi` over httpx. Raises only `PartnerApiError`s (and non-transient `AuthError`s)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: TokenProvider,
        *,
        base_url: str,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        wall_clock: Callable[[], float] = time.time,  # for HTTP-date Retry-After
        owns_http: bool = False,  # close `http` in aclose(): the stack built it for this client
    ) -> None:
        self._http = http
        telemetry.http_client_created(http)  # CLIENT spans per request, when telemetry is on
        self._tokens = tokens
        self._base = base_url.rstrip("/")
        self._collection = self._base + REFERRALS_PATH
        self._retry = retry or RetryPolicy()
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._wall_clock = wall_clock
        self._owns_http = owns_http
        self.clock = self._retry.clock  # the clock `deadline`s are measured on

    @property
    def http(self) -> httpx.AsyncClient:
        """The httpx client requests go through (the local host reuses it for the sandbox)."""
        return self._http

    @property
    def tokens(self) -> TokenProvider:
        return self._tokens

    async def aclose(self) -> None:
        """Close the httpx client if this client created it (an injected one is the caller's)."""
        if self._owns_http:
            await self._http.aclose()

    # ---- the port ---------------------------------------------------------------------------

    async def create_referral(
        self,
        body: Mapping[str, Any],
        *,
        correlation_id: str,
        deadline: float,
        retry_ambiguous: bool,
    ) -> Referral:
        response = await self._call(
            "create",
            "POST",
            self._collection,
            json=body,
            ok=(200, 201, 202),
            correlation_id=correlation_id,
            deadline=deadline,
            should_retry=lambda exc: retry_ambiguous or not exc.ambiguous,
            check=self._check_accepted,
        )
        return self._referral(response, "create")

    async def get_referral(
        self, referral_id: str, *, correlation_id: str, deadline: float
    ) -> Referral:
        response = await self._call(
            "get",
            "GET",
            self._item_url(referral_id),
            correlation_id=correlation_id,
            deadline=deadline,
        )
        return self._referral(response, "get")

    async def list_referrals(
        self,
        *,
        filter: str | None,
        top: int | None = None,
        orderby: str | None = None,
        correlation_id: str,
        deadline: float,
    ) -> AsyncIterator[Referral]:
        params: dict[str, str] = {}
        if filter:
            params["$filter"] = filter
        if top is not None:
            params["$top"] = str(top)
        if orderby:
            params["$orderby"] = orderby
        url: str | None = str(httpx.URL(self._collection, params=params))
        seen: set[str] = set()
        while url is not None:
            seen.add(url)
            response = await self._call(
                "list", "GET", url, correlation_id=correlation_id, deadline=deadline
            )
            page = self._json(response, "list")
            items = page.get("value") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise self._unexpected(response, "list", "the page has no 'value' array")
            for item in items:
                yield self._validate(item, response, "list")
            url = self._next_link(page, response, seen)

    async def patch_referral(
        self,
        referral_id: str,
        operations: Sequence[Mapping[str, Any]],
        *,
        etag: str | None,
        return_representation: bool,
        correlation_id: str,
        deadline: float,
    ) -> Referral | None:
        headers: dict[str, str] = {}
        if etag is not None:
            headers["If-Match"] = etag
        if return_representation:
            headers["Prefer"] = "return=representation"
        response = await self._call(
            "patch",
            "PATCH",
            self._item_url(referral_id),
            json=list(operations),
            headers=headers,
            ok=(200, 204),
            correlation_id=correlation_id,
            deadline=deadline,
        )
        if response.status_code == 204 or not response.content:
            return None
        return self._referral(response, "patch")

    # ---- one call: retries around attempts, each attempt one (or, after a 401, two) requests --

    async def _call(
        self,
        operation: str,
        method: str,
        url: str,
        *,
        correlation_id: str,
        deadline: float,
        json: object = None,
        headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
        should_retry: Callable[[TransientError], bool] = lambda _: True,
        check: Callable[[httpx.Response], None] | None = None,
    ) -> httpx.Response:
        fixed = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "MS-CorrelationId": correlation_header(correlation_id),
            **(headers or {}),
        }
        renewed = False  # one token renewal per call, whatever the retries

        async def attempt() -> httpx.Response:
            nonlocal renewed
            token = await self._token(operation)
            response = await self._send(operation, method, url, fixed, token, json, deadline)
            if response.status_code == 401 and not renewed:
                renewed = True
                self._tokens.invalidate(token)
                logger.info(
                    "Partner API %s: 401, renewing the access token once",
                    operation,
                    extra=self._fields(operation, response),
                )
                token = await self._token(operation)
                response = await self._send(operation, method, url, fixed, token, json, deadline)
            if response.status_code in ok:
                if check is not None:
                    check(response)  # may raise: inside the attempt, so the retry rules apply
                return response
            raise self._error(response, operation, ambiguous_5xx=method == "POST")

        runner: Callable[[], Awaitable[httpx.Response]] = attempt
        return await self._retry.run(
            runner, deadline=deadline, operation=operation, should_retry=should_retry
        )

    async def _token(self, operation: str) -> str:
        try:
            return await self._tokens.get_token()
        except AuthError as exc:
            if not exc.transient:
                raise
            raise ServiceUnavailable(
                operation,
                code="tokenEndpointUnavailable",
                retry_after=getattr(exc, "retry_after", None),
                detail="no access token: the token endpoint is unavailable",
            ) from exc

    async def _send(
        self,
        operation: str,
        method: str,
        url: str,
        fixed: Mapping[str, str],
        token: str,
        json: object,
        deadline: float,
    ) -> httpx.Response:
        client_request_id = str(uuid.uuid4())
        headers = {
            **fixed,
            "Authorization": f"Bearer {token}",
            "client-request-id": client_request_id,
        }
        left = max(deadline - self.clock(), MIN_ATTEMPT_TIMEOUT)
        timeout = httpx.Timeout(
            connect=min(self._connect_timeout, left),
            read=min(self._read_timeout, left),
            write=min(self._read_timeout, left),
            pool=min(self._connect_timeout, left),
        )
        sent = json is not None
        try:
            response = await self._http.request(
                method, url, headers=headers, json=json if sent else None, timeout=timeout
            )
        except (
            httpx.TimeoutException,
            httpx.NetworkError,
            httpx.RemoteProtocolError,
            httpx.ProxyError,
        ) as exc:
            # from None: httpx's message names the URL, which may hold a filter value.
            raise self._transport_error(operation, client_request_id, exc) from None
        telemetry.partner_response(operation, response.status_code, self._request_id(response))
        level = logging.DEBUG if response.status_code < 400 else logging.INFO
        logger.log(
            level,
            "Partner API %s: HTTP %s",
            operation,
            response.status_code,
            extra=self._fields(operation, response),
        )
        return response

    # ---- mapping responses ------------------------------------------------------------------

    @staticmethod
    def _request_id(response: httpx.Response) -> str | None:
        value: str | None = response.headers.get("request-id") or response.headers.get(
            "x-ms-request-id"
        )
        return value

    def _fields(self, operation: str, response: httpx.Response) -> dict[str, Any]:
        return {
            "operation": operation,
            "status": response.status_code,
            "request_id": self._request_id(response),
            "client_request_id": response.request.headers.get("client-request-id"),
        }

    @staticmethod
    def _transport_error(
        operation: str, client_request_id: str, exc: httpx.TransportError
    ) -> TransientError:
        # Ambiguous unless the request provably never left: no connection, or none from the pool.
        not_sent = isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout | httpx.ConnectError)
        kind = RequestTimedOut if isinstance(exc, httpx.TimeoutException) else NetworkError
        telemetry.partner_response(
            operation, "timeout" if kind is RequestTimedOut else "network", None
        )
        logger.info(
            "Partner API %s: %s",
            operation,
            type(exc).__name__,
            extra={"operation": operation, "client_request_id": client_request_id},
        )
        return kind(
            operation,
            ambiguous=not not_sent,
            client_request_id=client_request_id,
            detail=type(exc).__name__,
        )

    def _error(
        self, response: httpx.Response, operation: str, *, ambiguous_5xx: bool
    ) -> PartnerApiError:
        status = response.status_code
        try:
            payload: object = response.json()
            text = None
        except ValueError:
            payload, text = None, response.text
        body = parse_error_body(payload, status, text=text)
        common: dict[str, Any] = {
            "status": status,
            "code": body.code,
            "request_id": self._request_id(response),
            "client_request_id": response.request.headers.get("client-request-id"),
        }
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=self._wall_clock())
        if status in _THROTTLED:
            return Throttled(operation, retry_after=retry_after or body.retry_after, **common)
        if status in _RETRYABLE_5XX:
            return ServiceUnavailable(
                operation, retry_after=retry_after, ambiguous=ambiguous_5xx, **common
            )
        if operation == "create" and status in _AMBIGUOUS_CREATE:
            return AmbiguousResponse(operation, retry_after=retry_after, **common)
        if status == 400:
            return InvalidRequest(operation, errors=body.errors, **common)
        if status in (401, 403):
            challenge = parse_auth_challenge(response.headers.get("WWW-Authenticate"), payload)
            denied = Unauthenticated if status == 401 else AccessDenied
            return denied(
                operation,
                challenge=challenge.error if challenge else None,
                auth_contexts=challenge.auth_contexts if challenge else (),
                **common,
            )
        permanent = {404: NotFound, 412: PreconditionFailed}.get(status, UnexpectedResponse)
        return permanent(operation, **common)

    def _check_accepted(self, response: httpx.Response) -> None:
        """A 202 to a create is a success only when its body is the referral, with its id."""
        if response.status_code != 202:
            return
        try:
            accepted: Referral | None = Referral.model_validate(response.json())
        except (ValueError, ValidationError):
            accepted = None
        if accepted is None or not accepted.id:
            raise AmbiguousResponse(
                "create",
                status=202,
                request_id=self._request_id(response),
                client_request_id=response.request.headers.get("client-request-id"),
                detail="accepted without the created referral",
            )

    def _unexpected(self, response: httpx.Response, operation: str, why: str) -> UnexpectedResponse:
        return UnexpectedResponse(
            operation,
            status=response.status_code,
            request_id=self._request_id(response),
            client_request_id=response.request.headers.get("client-request-id"),
            detail=why,
        )

    def _json(self, response: httpx.Response, operation: str) -> object:
        try:
            return response.json()
        except ValueError:
            raise self._unexpected(response, operation, "the body is not JSON") from None

    def _validate(self, item: object, response: httpx.Response, operation: str) -> Referral:
        telemetry.partner_referral(item)  # its contacts join the PII safety net's registry
        try:
            return Referral.model_validate(item)
        except ValidationError as exc:
            # pydantic's message quotes the input, which is customer data: keep only the paths.
            paths = sorted({"/".join(map(str, e["loc"])) for e in exc.errors()})
            raise self._unexpected(
                response, operation, f"not a referral (at {', '.join(paths) or 'root'})"
            ) from None

    def _referral(self, response: httpx.Response, operation: str) -> Referral:
        return self._validate(self._json(response, operation), response, operation)

    def _item_url(self, referral_id: str) -> str:
        if not referral_id:
            raise ValueError("referral_id is empty")
        return f"{self._collection}/{quote(referral_id, safe='')}"

    def _next_link(self, page: object, response: httpx.Response, seen: set[str]) -> str | None:
        """The next page's URL: the link's path and query on our own API host.

        Microsoft documents the link as `http://api.partner.microsoft.com/v1.0/referrals?
        $skiptoken=…` (http, and without `/engagements`), so scheme and path are the service's
        business: the link is followed on the same host whatever they are, and always over https
        (a loopback sandbox keeps the configured scheme). Another host would receive our bearer
        token, so it is refused, as is a page already fetched (a loop)."""
        link = page.get("@odata.nextLink") if isinstance(page, dict) else None
        if not link:
            return None
        if not isinstance(link, str):
            raise self._unexpected(response, "list", "@odata.nextLink is not a string")
        base = urlsplit(self._base)
        try:
            target = urlsplit(urljoin(self._collection, link))
            same_host = (target.hostname or "").lower() == (base.hostname or "").lower()
        except ValueError:  # an unparseable netloc (bad port, bad IPv6 literal)
            same_host = False
        if not same_host:
            raise self._unexpected(response, "list", "@odata.nextLink points to another host")
        scheme = base.scheme if is_loopback_host(base.hostname) else "https"
        url = urlunsplit((scheme, base.netloc, target.path, target.query, ""))
        if url in seen:
            raise self._unexpected(response, "list", "@odata.nextLink repeats a page")
        return url
