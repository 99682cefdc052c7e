"""Tokens: signed access tokens, rotating refresh tokens, device codes, and their checks.

Access tokens are HS256 JWTs signed with a random per-sandbox key (so a token from one sandbox
never works in another). Claims: `tid` (organisation), `oid`/`sub` (user, or the app's service
principal), `upn`/`email` (users only), `roles`, `idtyp` (`user` or `app`), `aud`, `appid`, `scp`,
`iat`, `nbf`, `exp`. Verification is cached by token string: the API checks the same token for
every request, so only the first costs a signature check.

Refresh tokens are opaque random strings kept server-side. Each exchange returns a new one; the
old one stays usable only when `SandboxConfig.refresh_token_reuse` is set. Unused ones expire
after `refresh_token_idle_s`, and the admin API can revoke them; either way the token endpoint
answers like Entra ID does (HTTP 400, `invalid_grant`, AADSTS700082).
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import jwt

from partner_sandbox.config import PARTNER_API_AUDIENCE, Organization, SandboxConfig, User

OIDC_SCOPES: Final = frozenset({"openid", "profile", "offline_access", "email"})
DEVICE_CODE_GRANT: Final = "urn:ietf:params:oauth:grant-type:device_code"
_CACHE_LIMIT: Final = 50_000


@dataclass(frozen=True, slots=True)
class Principal:
    """Who an access token speaks for."""

    tenant_id: str
    object_id: str
    upn: str | None
    roles: tuple[str, ...]
    app_only: bool
    audience: str
    expires_at: float


class TokenError(Exception):
    """An access token the API must refuse (401). `reason` is safe to show."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class GrantError(Exception):
    """An OAuth error answer of the token endpoint, as Entra ID words it."""

    def __init__(self, error: str, code: int, description: str, status: int = 400) -> None:
        self.error = error
        self.code = code
        self.description = description
        self.status = status
        super().__init__(f"{error}: AADSTS{code}")


@dataclass(slots=True)
class _RefreshToken:
    org: Organization
    user: User
    client_id: str
    scope: str
    last_used: float
    revoked: bool = False
    rotated: bool = False


@dataclass(slots=True)
class _DeviceCode:
    org: Organization
    user: User
    client_id: str
    scope: str
    expires_at: float
    pending_polls: int


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _issuer(org: Organization) -> str:
    # A fixed, unroutable issuer: tokens do not depend on the host the client used.
    return f"https://partner-sandbox.invalid/{org.id}/v2.0"


def audience_of(scope: str) -> str:
    """The resource a v2 scope string asks for (`https://x/.default` -> `https://x`)."""
    for item in scope.split():
        if item not in OIDC_SCOPES and "/" in item:
            return item.rsplit("/", 1)[0]
    return PARTNER_API_AUDIENCE


class TokenService:
    def __init__(self, config: SandboxConfig, clock: Callable[[], float] | None = None) -> None:
        self._config = config
        self._clock = clock or config.clock
        self._key = secrets.token_bytes(32)
        self._verified: dict[str, Principal] = {}
        self._refresh: dict[str, _RefreshToken] = {}
        self._device_codes: dict[str, _DeviceCode] = {}
        self.requests_by_grant: Counter[str] = Counter()
        self._orgs = {org.id: org for org in config.organizations}

    # ---- identities ----------------------------------------------------------------------

    def find_user(self, who: str) -> tuple[Organization, User]:
        """A user by alias, object id or UPN (case-insensitive), in any organisation."""
        wanted = who.strip().lower()
        for org in self._config.organizations:
            for user in org.users:
                if wanted in (user.alias.lower(), user.oid.lower(), user.upn.lower()):
                    return org, user
        raise KeyError("no such user")

    def organization(self, tenant: str) -> Organization | None:
        """The organisation a path tenant names; `organizations`/`common` mean the default."""
        if tenant.lower() in ("organizations", "common"):
            return self._config.default_organization
        return self._orgs.get(tenant.lower())

    # ---- access tokens -------------------------------------------------------------------

    def access_token(
        self,
        org: Organization,
        user: User | None,
        *,
        client_id: str,
        audience: str = PARTNER_API_AUDIENCE,
        lifetime_s: int | None = None,
    ) -> tuple[str, int]:
        """A signed access token for a user (delegated) or, with `user=None`, the app itself."""
        now = int(self._clock())
        lifetime = self._config.token_lifetime_s if lifetime_s is None else lifetime_s
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": _issuer(org),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "tid": org.id,
            "appid": client_id,
            "jti": secrets.token_hex(8),
        }
        if user is None:
            principal_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-sp:{org.id}:{client_id}"))
            claims.update(oid=principal_id, sub=principal_id, idtyp="app", roles=[])
        else:
            claims.update(
                oid=user.oid,
                sub=user.oid,
                upn=user.upn,
                email=user.upn,
                name=user.display_name,
                idtyp="user",
                roles=list(user.roles),
                scp="user_impersonation",
            )
        return jwt.encode(claims, self._key, algorithm="HS256"), lifetime

    def verify(
        self, token: str, audiences: frozenset[str] = frozenset({PARTNER_API_AUDIENCE})
    ) -> Principal:
        """The principal of a bearer token, or `TokenError` (malformed, foreign, expired, or
        for none of `audiences`)."""
        principal = self._verified.get(token)
        if principal is None:
            principal = self._decode(token)
            if len(self._verified) >= _CACHE_LIMIT:
                self._verified.clear()
            self._verified[token] = principal
        if principal.expires_at <= self._clock():
            raise TokenError("The access token has expired.")
        if principal.audience not in audiences:
            raise TokenError("The access token is not for the Partner Center API.")
        return principal

    def _decode(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                options={
                    "verify_exp": False,  # checked against the sandbox clock instead
                    "verify_aud": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
            return Principal(
                tenant_id=str(claims["tid"]),
                object_id=str(claims["oid"]),
                upn=claims.get("upn"),
                roles=tuple(claims.get("roles") or ()),
                app_only=claims.get("idtyp") == "app",
                audience=str(claims["aud"]),
                expires_at=float(claims["exp"]),
            )
        except (jwt.InvalidTokenError, KeyError, TypeError, ValueError):
            raise TokenError("The access token is malformed or was not issued here.") from None

    # ---- token endpoint grants -----------------------------------------------------------

    def _user_tokens(
        self,
        org: Organization,
        user: User,
        client_id: str,
        scope: str,
        lifetime_s: int | None = None,
    ) -> dict[str, Any]:
        access, lifetime = self.access_token(
            org, user, client_id=client_id, audience=audience_of(scope), lifetime_s=lifetime_s
        )
        refresh = "rt." + secrets.token_urlsafe(32)
        self._refresh[refresh] = _RefreshToken(org, user, client_id, scope, self._clock())
        now = int(self._clock())
        id_token = jwt.encode(
            {
                "aud": client_id,
                "iss": _issuer(org),
                "iat": now,
                "nbf": now,
                "exp": now + lifetime,
                "sub": user.oid,
                "oid": user.oid,
                "tid": org.id,
                "name": user.display_name,
                "preferred_username": user.upn,
                "ver": "2.0",
            },
            self._key,
            algorithm="HS256",
        )
        client_info = _b64url(json.dumps({"uid": user.oid, "utid": org.id}).encode())
        return {
            "token_type": "Bearer",
            "scope": " ".join(s for s in scope.split() if s != "offline_access") or scope,
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access,
            "refresh_token": refresh,
            "id_token": id_token,
            "client_info": client_info,
        }

    def issue_for_user(
        self, who: str, *, client_id: str = "sandbox-client", lifetime_s: int | None = None
    ) -> dict[str, Any]:
        """Tokens for a configured user, as if they had just signed in (admin API, tests)."""
        org, user = self.find_user(who)
        scope = f"{PARTNER_API_AUDIENCE}/.default offline_access openid profile"
        return self._user_tokens(org, user, client_id, scope, lifetime_s)

    def redeem_refresh_token(
        self, org: Organization | None, refresh_token: str, client_id: str, scope: str
    ) -> dict[str, Any]:
        self.requests_by_grant["refresh_token"] += 1
        record = self._refresh.get(refresh_token)
        if record is None:
            raise GrantError("invalid_grant", 9002313, "Invalid request. Request is malformed.")
        if record.revoked or self._clock() - record.last_used > self._config.refresh_token_idle_s:
            raise GrantError(
                "invalid_grant",
                700082,
                "The refresh token has expired due to inactivity. The token was issued on "
                "a date and was inactive for the maximum allowed time.",
            )
        if record.rotated and not self._config.refresh_token_reuse:
            raise GrantError(
                "invalid_grant",
                50173,
                "The provided grant has expired due to it being revoked, a fresh auth token "
                "is needed (the refresh token was already exchanged for a newer one).",
            )
        if record.client_id != client_id:
            raise GrantError(
                "invalid_grant", 70000, "The refresh token was issued to a different client."
            )
        if org is not None and org.id != record.org.id:
            raise GrantError("invalid_grant", 70000, "The refresh token is for another tenant.")
        record.rotated = True
        record.last_used = self._clock()
        return self._user_tokens(record.org, record.user, client_id, scope or record.scope)

    def client_credentials(self, org: Organization, client_id: str, scope: str) -> dict[str, Any]:
        self.requests_by_grant["client_credentials"] += 1
        if not scope.strip().endswith("/.default"):
            raise GrantError(
                "invalid_scope",
                1002012,
                "The provided value for scope is not valid: client "
                "credential flows must have a scope value with /.default suffixed.",
            )
        access, lifetime = self.access_token(
            org, None, client_id=client_id, audience=audience_of(scope)
        )
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access,
        }

    def start_device_flow(
        self,
        org: Organization | None,
        client_id: str,
        scope: str,
        login_hint: str | None,
        verification_uri: str,
    ) -> dict[str, Any]:
        self.requests_by_grant["devicecode"] += 1
        try:
            user_org, user = self.find_user(login_hint or self._config.device_code_user)
        except KeyError:
            raise GrantError("invalid_request", 50034, "The user account does not exist.") from None
        if org is not None and org.id != user_org.id:
            raise GrantError("invalid_request", 50020, "The user is not in this tenant.")
        device_code = "dc." + secrets.token_urlsafe(32)
        user_code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(9))
        lifetime = self._config.device_code_lifetime_s
        self._device_codes[device_code] = _DeviceCode(
            user_org,
            user,
            client_id,
            scope,
            self._clock() + lifetime,
            self._config.device_code_pending_polls,
        )
        return {
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": verification_uri,
            "expires_in": lifetime,
            "interval": self._config.device_code_interval_s,
            "message": (
                f"To sign in, use a web browser to open the page {verification_uri} and enter "
                f"the code {user_code} to authenticate. (The Partner Center sandbox approves "
                "this sign-in by itself.)"
            ),
        }

    def poll_device_flow(self, device_code: str, client_id: str) -> dict[str, Any]:
        self.requests_by_grant["device_code"] += 1
        record = self._device_codes.get(device_code)
        if record is None or record.client_id != client_id:
            raise GrantError(
                "invalid_grant", 70000, "The provided value for 'device_code' is not valid."
            )
        if self._clock() >= record.expires_at:
            del self._device_codes[device_code]
            raise GrantError("expired_token", 70020, "The provided device code has expired.")
        if record.pending_polls > 0:
            record.pending_polls -= 1
            raise GrantError(
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            )
        del self._device_codes[device_code]  # a device code is redeemed once
        return self._user_tokens(record.org, record.user, record.client_id, record.scope)

    def count_other_grant(self) -> None:
        self.requests_by_grant["other"] += 1

    # ---- admin ---------------------------------------------------------------------------

    def revoke_refresh_tokens(self, who: str | None = None) -> int:
        """Make refresh tokens fail with AADSTS700082 (all of them, or one user's)."""
        oid = self.find_user(who)[1].oid if who else None
        count = 0
        for record in self._refresh.values():
            if not record.revoked and (oid is None or record.user.oid == oid):
                record.revoked = True
                count += 1
        return count

    def reset(self) -> None:
        """Forget refresh tokens and device codes (access tokens stay valid until they expire)."""
        self._refresh.clear()
        self._device_codes.clear()
        self.requests_by_grant.clear()
