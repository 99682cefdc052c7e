"""Response helpers: compact JSON, the Graph error body, the Entra ID error body.

The Graph error body of the API (fact sheet §4), with field-level problems in `details`::

    {"error": {"code": "invalidRequest",
               "message": "The referral is invalid: 2 problem(s).",
               "target": "/customerProfile/address/country",
               "details": [{"code": "invalid_country",
                            "message": "must be an ISO 3166-1 alpha-2 country code, e.g. 'US'",
                            "target": "/customerProfile/address/country"}],
               "innerError": {"code": "validationFailed", "date": "...",
                              "request-id": "...", "client-request-id": "..."}}}

`target`s are JSON Pointers into the request body; `code`s are the sandbox's own problem
codes (`partner_sandbox.problems`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from partner_sandbox.problems import Problem

JSON_MEDIA_TYPE = "application/json; charset=utf-8"
REQUEST_ID_SCOPE_KEY = "partner_sandbox.request_id"


def dumps(payload: Any) -> bytes:
    # ASCII escapes keep json on its C fast path (ensure_ascii=False falls back to Python code).
    return json.dumps(payload, separators=(",", ":")).encode()


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(dumps(payload), status, headers, media_type=JSON_MEDIA_TYPE)


class ApiError(Exception):
    """Raised by API handlers; rendered as a Graph error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        details: Sequence[Problem] = (),
        inner_code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = tuple(details)
        self.inner_code = inner_code
        self.headers = dict(headers or {})
        super().__init__(f"{status} {code}")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or a 413 `ApiError` as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


class Throttled(Exception):
    """Raised by API handlers over the rate cap; rendered by `throttled_response`."""

    def __init__(self, retry_after: str) -> None:
        self.retry_after = retry_after
        super().__init__(f"429 retry after {retry_after}")


def throttled_response(request: Request | None, retry_after: str, body_style: str) -> Response:
    """429 with `Retry-After`; body "plain" is the one Microsoft's throttling guidance shows
    (`{"statusCode": 429, "message": "Rate limit is exceeded. Try again in N seconds."}`)."""
    message = f"Rate limit is exceeded. Try again in {retry_after} seconds."
    headers = {"Retry-After": retry_after}
    if body_style == "plain":
        return json_response({"statusCode": 429, "message": message}, 429, headers)
    return graph_error(request, ApiError(429, "throttled", message, headers=headers))


def _too_large() -> ApiError:
    return ApiError(413, "requestEntityTooLarge", "The request body is too large.")


def graph_error(request: Request | None, error: ApiError) -> Response:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.target is not None:
        body["target"] = error.target
    if error.details:
        body["details"] = [
            {"code": d.code, "message": d.message, "target": d.path} for d in error.details
        ]
    inner: dict[str, Any] = {"code": error.inner_code or error.code}
    inner["date"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    if request is not None:
        inner["request-id"] = request.scope.get(REQUEST_ID_SCOPE_KEY)
        client_request_id = request.headers.get("client-request-id")
        if client_request_id:
            inner["client-request-id"] = client_request_id
    body["innerError"] = inner
    return json_response({"error": body}, error.status, error.headers)


def entra_error(error: str, code: int, description: str, status: int = 400) -> Response:
    """An Entra ID (v2 token endpoint) error answer."""
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    return json_response(
        {
            "error": error,
            "error_description": (
                f"AADSTS{code}: {description} Trace ID: {trace_id} "
                f"Correlation ID: {correlation_id} Timestamp: {stamp}"
            ),
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
        },
        status,
        {"Cache-Control": "no-store", "Pragma": "no-cache"},
    )
