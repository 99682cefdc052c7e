"""The one place that assembles the Partner API client stack: the httpx client, the token
provider, the retry policy and the `PartnerApiClient` over them.

Every caller that talks to the Partner API (the Functions worker, the local host, the chaos run,
the benchmarks, the CLI) builds its client here, so the production choices — `SpreadTransport`,
no redirects, the timeouts from settings, one token renewal per call — cannot drift apart:

    api = partner_api_from_settings(settings)               # Azure: SAM tokens from the settings
    api = build_partner_api(tokens, base_url=sandbox_url)   # the sandbox: tokens of its own
    ...
    await api.aclose()                                      # closes the httpx client built here

Nothing does I/O when built: the refresh token is read and the first token fetched on the first
call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from shared.auth.ports import TokenProvider
from shared.partner_api.client import PartnerApiClient, create_http_client
from shared.partner_api.retry import RetryPolicy

if TYPE_CHECKING:
    from shared.settings import Settings


def build_partner_api(
    tokens: TokenProvider,
    *,
    base_url: str,
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
    retry: RetryPolicy | None = None,
    http: httpx.AsyncClient | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> PartnerApiClient:
    """A client on `base_url`. Without `http`, the worker's httpx client is built here and the
    client closes it in `aclose()`; an injected one (a test transport) stays the caller's."""
    return PartnerApiClient(
        http or create_http_client(connect_timeout=connect_timeout, read_timeout=read_timeout),
        tokens,
        base_url=base_url,
        retry=retry or RetryPolicy(),
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        wall_clock=wall_clock,
        owns_http=http is None,
    )


def partner_api_from_settings(
    settings: Settings,
    *,
    tokens: TokenProvider | None = None,
    http: httpx.AsyncClient | None = None,
    retry: RetryPolicy | None = None,
) -> PartnerApiClient:
    """The client the app settings describe; tokens from `SamTokenProvider.from_settings` unless
    given (the store, authority and app credential of `RELAY_*`)."""
    if tokens is None:
        from shared.auth.sam_provider import SamTokenProvider  # msal: imported on first use

        tokens = SamTokenProvider.from_settings(settings)
    return build_partner_api(
        tokens,
        base_url=settings.partner_api_url,
        connect_timeout=settings.http_connect_timeout_seconds,
        read_timeout=settings.http_read_timeout_seconds,
        retry=retry,
        http=http,
    )
