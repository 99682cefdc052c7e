"""One-line telemetry hooks for the adapters (Partner API client, retry policy, token provider).

Each hook is a no-op until telemetry is active, and none imports OpenTelemetry at module level,
so the adapters can call them unconditionally and stay cheap to import and to run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.telemetry import setup

if TYPE_CHECKING:
    import httpx


def http_client_created(client: httpx.AsyncClient) -> None:
    """Trace every request of the Partner API's HTTP client (CLIENT spans with `request-id`)."""
    if setup.active():
        from shared.telemetry.tracing import instrument_http_client

        instrument_http_client(client)


def partner_response(operation: str, status: int | str, request_id: str | None) -> None:
    """One Partner API response (an HTTP status) or transport failure ("network", "timeout")."""
    if setup.active():
        from shared.telemetry.invocations import partner_response

        partner_response(operation, status, request_id)


def partner_referral(data: object) -> None:
    """A referral the Partner API returned: its contacts join the invocation's PII registry."""
    if setup.active():
        from shared.telemetry.pii import remember_contacts

        remember_contacts(data)


def retry_wait(operation: str, seconds: float) -> None:
    """The client is about to sleep `seconds` before retrying `operation`."""
    if setup.active():
        from shared.telemetry import metrics

        metrics.retry_wait(operation, seconds)


def token_refresh(result: str) -> None:
    """One redemption of the refresh token: `success` or `failure`."""
    if setup.active():
        from shared.telemetry import metrics

        metrics.token_refresh(result)
