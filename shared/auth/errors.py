"""Typed auth errors. Messages name OAuth/AADSTS codes and what to do, never token material.

    AuthError                       base; `.transient` says whether trying later can help
    ├── ReauthenticationRequired    the refresh token is dead (invalid_grant, interaction_required,
    │   │                           ...): an operator must run `referral-relay login`
    │   └── RefreshTokenMissing     the store holds no refresh token yet
    ├── AppCredentialRejected       Entra refused the app's own credential (invalid_client, ...)
    ├── TokenRequestFailed          any other OAuth error (invalid_scope, ...): a configuration bug
    ├── TokenServiceUnavailable     token endpoint unreachable or answered 429/5xx (transient)
    └── RefreshTokenStoreError      the store could not be read or written

Entra's `error_description` is never copied into a message: it can name the signed-in user.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

_AADSTS = re.compile(r"\bAADSTS(\d+)\b")

LOGIN_HINT = "run `referral-relay login{store}` to sign in again (Referrals Admin, with MFA)"


class AuthError(Exception):
    """Base of every auth failure. `CODE` is stable (alerts and outcome events name it)."""

    CODE: ClassVar[str] = "auth_error"
    transient: bool = False


class ReauthenticationRequired(AuthError):
    """The stored refresh token can no longer be redeemed; only a new interactive login helps."""

    CODE: ClassVar[str] = "reauthentication_required"

    def __init__(self, error: str, *, aadsts: str | None = None, store: str | None = None) -> None:
        self.error = error
        self.aadsts = aadsts
        self.store = store
        where = f" --store {store}" if store else ""
        code = f", {aadsts}" if aadsts else ""
        super().__init__(
            f"the Partner Center refresh token was refused ({error}{code}): "
            + LOGIN_HINT.format(store=where)
        )


class RefreshTokenMissing(ReauthenticationRequired):
    """No refresh token has been stored yet (or it was deleted)."""

    CODE: ClassVar[str] = "refresh_token_missing"

    def __init__(self, store: str) -> None:
        self.error = "no_refresh_token"
        self.aadsts = None
        self.store = store
        AuthError.__init__(
            self,
            f"no refresh token is stored at {store}: "
            + LOGIN_HINT.format(store=f" --store {store}"),
        )


class AppCredentialRejected(AuthError):
    """invalid_client / unauthorized_client: the secret, certificate or federation is wrong."""

    CODE: ClassVar[str] = "app_credential_rejected"

    def __init__(self, error: str, *, aadsts: str | None = None) -> None:
        self.error = error
        self.aadsts = aadsts
        code = f", {aadsts}" if aadsts else ""
        super().__init__(
            f"Entra ID rejected the app credential ({error}{code}): check RELAY_APP_CREDENTIAL "
            "and the secret, certificate or federated credential of the app registration"
        )


class TokenRequestFailed(AuthError):
    """An OAuth error that is neither a dead refresh token nor a bad app credential."""

    CODE: ClassVar[str] = "token_request_failed"

    def __init__(self, error: str, *, aadsts: str | None = None) -> None:
        self.error = error
        self.aadsts = aadsts
        code = f", {aadsts}" if aadsts else ""
        super().__init__(f"the token request was refused ({error}{code})")


class TokenServiceUnavailable(AuthError):
    """The token endpoint could not be reached, or asked us to come back later."""

    CODE: ClassVar[str] = "token_service_unavailable"
    transient = True

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(f"the token endpoint is unavailable ({reason})")


class RefreshTokenStoreError(AuthError):
    """The refresh-token store failed (permissions, Key Vault unreachable, ...)."""

    CODE: ClassVar[str] = "refresh_token_store_error"

    def __init__(self, store: str, reason: str, *, transient: bool) -> None:
        self.store = store
        self.reason = reason
        self.transient = transient
        super().__init__(f"refresh-token store {store} failed: {reason}")


def aadsts_code(result: Mapping[str, Any]) -> str | None:
    """`AADSTS70008`-style code of an msal error result, from `error_codes` or the description."""
    codes = result.get("error_codes")
    if isinstance(codes, list) and codes and isinstance(codes[0], int):
        return f"AADSTS{codes[0]}"
    match = _AADSTS.search(str(result.get("error_description") or ""))
    return f"AADSTS{match.group(1)}" if match else None


_REAUTHENTICATE = frozenset(
    {"invalid_grant", "interaction_required", "consent_required", "login_required"}
)
_BAD_CLIENT = frozenset({"invalid_client", "unauthorized_client"})
_TRY_LATER = frozenset({"temporarily_unavailable", "server_error"})


def from_oauth_error(result: Mapping[str, Any], *, store: str | None = None) -> AuthError:
    """Map an OAuth error response (msal's result dict) to the typed error."""
    error = str(result.get("error") or "unknown_error")
    code = aadsts_code(result)
    if error in _REAUTHENTICATE:
        return ReauthenticationRequired(error, aadsts=code, store=store)
    if error in _BAD_CLIENT:
        return AppCredentialRejected(error, aadsts=code)
    if error in _TRY_LATER:
        return TokenServiceUnavailable(f"{error}{', ' + code if code else ''}")
    return TokenRequestFailed(error, aadsts=code)
