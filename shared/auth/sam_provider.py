"""Secure Application Model token provider: refresh token -> Partner API access token, with msal.

Lifecycle (design §5):

* The refresh token comes from the `RefreshTokenStore` (Key Vault in Azure) on first use and is
  then kept in memory; `ConfidentialClientApplication.acquire_token_by_refresh_token` redeems it
  for an access token for `https://api.partner.microsoft.com/.default`.
* The access token is cached until 5 minutes before it expires (half its lifetime if it lives
  shorter than 10 minutes): one token request per hour per worker, not per message.
* Concurrent callers share one in-flight refresh (a shared task, so 200 callers on a cold cache
  make one token request, and a failed refresh fails them all at once instead of 200 times).
* When Entra returns a new refresh token, it replaces the one in memory and is written back to the
  store once. A failed write is logged and not fatal: the old token in the store stays valid, and
  the next rotation writes again.
* `invalid_grant` / `interaction_required` become `ReauthenticationRequired` (the message names the
  AADSTS code and says to run `referral-relay login`); the in-memory refresh token is dropped so
  the next attempt re-reads the store, which picks up a fresh login without a restart.
* msal is synchronous: every msal call, including building the app (it fetches the authority's
  OpenID configuration), runs in `asyncio.to_thread`. msal is imported lazily (cold start).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from shared.auth.errors import (
    AuthError,
    ReauthenticationRequired,
    TokenServiceUnavailable,
    from_oauth_error,
)
from shared.auth.ports import RefreshTokenStore
from shared.names import TELEMETRY_EVENT, TOKEN_REFRESH_FAILED
from shared.settings import Settings
from shared.telemetry import hooks as telemetry

PARTNER_API_SCOPE: Final = "https://api.partner.microsoft.com/.default"
REFRESH_MARGIN_SECONDS: Final = 300.0

logger = logging.getLogger("referral_relay.auth")


class RefreshTokenApp(Protocol):
    """The part of `msal.ConfidentialClientApplication` the provider uses."""

    def acquire_token_by_refresh_token(
        self, refresh_token: str, scopes: list[str]
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class _Cached:
    token: str
    refresh_at: float  # on the provider's clock


def _transient_errors() -> tuple[type[BaseException], ...]:
    """Exceptions from an msal call that mean "the token endpoint is not answering properly"."""
    import httpx
    from msal.exceptions import MsalServiceError  # raised for a 5xx from the token endpoint

    return (httpx.HTTPError, OSError, json.JSONDecodeError, MsalServiceError)


class SamTokenProvider:
    """`TokenProvider` over msal's refresh-token grant (Secure Application Model)."""

    def __init__(
        self,
        app_factory: Callable[[], RefreshTokenApp],
        store: RefreshTokenStore,
        *,
        scopes: Sequence[str] = (PARTNER_API_SCOPE,),
        clock: Callable[[], float] = time.monotonic,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
    ) -> None:
        self._app_factory = app_factory
        self._app: RefreshTokenApp | None = None
        self._store = store
        self._scopes = list(scopes)
        self._clock = clock
        self._margin = refresh_margin
        self._cached: _Cached | None = None
        self._refresh_token: str | None = None
        self._inflight: asyncio.Future[str] | None = None
        self.token_requests = 0  # requests sent to the token endpoint (for telemetry)
        self.rotations = 0  # rotated refresh tokens written back to the store

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        store: RefreshTokenStore | None = None,
        http_client: Any | None = None,
        managed_identity: Any | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> SamTokenProvider:
        """The provider the app settings describe (store, authority, app credential).

        A bad certificate PEM raises `SettingsError` here, at start-up. Nothing is fetched yet.
        """
        from shared.auth.app_credentials import client_credential
        from shared.auth.stores import store_from_url

        factory = confidential_app_factory(
            client_id=settings.client_id,
            authority=authority_url(settings),
            client_credential=client_credential(settings, managed_identity=managed_identity),
            http_client=http_client,
        )
        if store is None:
            store = store_from_url(
                settings.refresh_token_store,
                managed_identity_client_id=settings.managed_identity_client_id,
            )
        return cls(factory, store, clock=clock)

    async def get_token(self) -> str:
        cached = self._cached
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.token
        inflight = self._inflight
        if inflight is None:
            inflight = asyncio.ensure_future(self._refresh())
            self._inflight = inflight
            inflight.add_done_callback(self._refresh_done)
        # shield: a caller that is cancelled must not cancel the refresh the others wait for.
        return await asyncio.shield(inflight)

    def invalidate(self, token: str) -> None:
        if self._cached is not None and self._cached.token == token:
            self._cached = None

    def _refresh_done(self, task: asyncio.Future[str]) -> None:
        self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved here, so a refresh nobody awaits any more logs no warning

    async def _refresh(self) -> str:
        try:
            return await self._redeem()
        except AuthError as exc:
            telemetry.token_refresh("failure")
            if isinstance(exc, ReauthenticationRequired):
                self._refresh_token = None  # re-read the store next time: a new login lands there
            logger.log(
                logging.WARNING if exc.transient else logging.ERROR,
                "token refresh failed: %s",
                type(exc).__name__,
                extra={
                    TELEMETRY_EVENT: TOKEN_REFRESH_FAILED,
                    "operation": "token_refresh",
                    "error_type": type(exc).__name__,
                    "oauth_error": getattr(exc, "error", None),
                    "aadsts": getattr(exc, "aadsts", None),
                },
            )
            raise

    async def _redeem(self) -> str:
        """One refresh-token redemption; every failure comes out as an `AuthError`."""
        started = self._clock()
        refresh_token = self._refresh_token or await self._store.load()
        try:
            if self._app is None:
                self._app = await asyncio.to_thread(self._app_factory)
            self.token_requests += 1
            result = await asyncio.to_thread(
                self._app.acquire_token_by_refresh_token, refresh_token, scopes=self._scopes
            )
        except AuthError:
            raise
        except _transient_errors() as exc:
            raise TokenServiceUnavailable(type(exc).__name__) from None

        if "error" in result:
            raise from_oauth_error(result, store=self._store.describe())
        access_token = result.get("access_token")
        expires_in = result.get("expires_in")
        if not isinstance(access_token, str) or not isinstance(expires_in, int | float):
            raise TokenServiceUnavailable("token response without access_token/expires_in")

        telemetry.token_refresh("success")
        self._refresh_token = refresh_token
        rotated = result.get("refresh_token")
        is_rotated = isinstance(rotated, str) and bool(rotated) and rotated != refresh_token
        if is_rotated:
            self._refresh_token = rotated
            await self._write_back(str(rotated))

        lifetime = float(expires_in)
        self._cached = _Cached(access_token, started + lifetime - min(self._margin, lifetime / 2))
        logger.info(
            "access token refreshed",
            extra={
                "operation": "token_refresh",
                "expires_in": int(lifetime),
                "rotated": is_rotated,
                "token_requests": self.token_requests,
            },
        )
        return access_token

    async def _write_back(self, refresh_token: str) -> None:
        try:
            await self._store.save(refresh_token)
        except AuthError as exc:
            logger.error(
                "could not store the rotated refresh token; the previous one stays valid",
                extra={"operation": "token_rotation", "error_type": type(exc).__name__},
            )
            return
        self.rotations += 1


def is_loopback_authority(authority: str) -> bool:
    """Whether the authority is the local sandbox (msal must skip Entra instance discovery)."""
    from urllib.parse import urlsplit

    from shared.loopback import is_loopback_host

    return is_loopback_host(urlsplit(authority).hostname)


def authority_url(settings: Settings) -> str:
    """`RELAY_AUTHORITY_HOST/RELAY_PARTNER_TENANT_ID`."""
    return f"{settings.authority_host.rstrip('/')}/{settings.tenant_id}"


def confidential_app_factory(
    *,
    client_id: str,
    authority: str,
    client_credential: str | dict[str, Any],
    http_client: Any | None = None,
) -> Callable[[], RefreshTokenApp]:
    """A builder for the msal `ConfidentialClientApplication` (run it in a thread: it does I/O)."""

    def build() -> RefreshTokenApp:
        import msal

        from shared.auth.msal_http import MsalHttpClient

        app: RefreshTokenApp = msal.ConfidentialClientApplication(
            client_id,
            client_credential=client_credential,
            authority=authority,
            http_client=http_client if http_client is not None else MsalHttpClient(),
            instance_discovery=not is_loopback_authority(authority),
            token_cache=msal.TokenCache(),  # a private cache: ours is the one that counts
        )
        return app

    return build
