"""The token authority: OpenID discovery, `/oauth2/v2.0/token`, `/oauth2/v2.0/devicecode`.

Good enough for msal: the sandbox advertises the authority `https://<host>/<tenant-id>` (msal
accepts only https authorities) and serves plain HTTP; `shared.auth.msal_http.MsalHttpClient`
speaks HTTP to loopback hosts. Grants: `refresh_token`, `device_code` (approved by the sandbox
itself, after `device_code_pending_polls` "authorization_pending" answers) and
`client_credentials` (an app-only token, which the Referrals API then refuses, as the real one
does). Client secrets are not checked.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from partner_sandbox.config import Organization
from partner_sandbox.responses import entra_error, json_response, read_body
from partner_sandbox.tokens import DEVICE_CODE_GRANT, GrantError, TokenService

_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def authority_base(request: Request) -> str:
    """`https://host:port` as the client addressed us (msal needs https; see module doc)."""
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"https://{host}"


async def _form(request: Request, limit: int) -> dict[str, str]:
    raw = (await read_body(request, limit)).decode("utf-8", errors="replace")
    return {key: values[0] for key, values in parse_qs(raw, keep_blank_values=True).items()}


def _missing(parameter: str) -> GrantError:
    return GrantError(
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{parameter}'.",
    )


class Identity:
    def __init__(self, tokens: TokenService, max_body: int) -> None:
        self._tokens = tokens
        self._max_body = max_body

    def _tenant(self, request: Request) -> tuple[str, Organization | None]:
        tenant = str(request.path_params["tenant"])
        return tenant, self._tokens.organization(tenant)

    async def openid_configuration(self, request: Request) -> Response:
        tenant, org = self._tenant(request)
        if org is None:
            return entra_error("invalid_tenant", 90002, "Tenant not found.")
        base = f"{authority_base(request)}/{tenant}"
        return json_response(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "code id_token", "token"],
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["HS256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                    "private_key_jwt",
                ],
                "grant_types_supported": [
                    "refresh_token",
                    DEVICE_CODE_GRANT,
                    "client_credentials",
                ],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "oid", "tid", "upn"],
                "tenant_region_scope": None,
                "cloud_instance_name": "partner-sandbox.invalid",
            }
        )

    async def keys(self, request: Request) -> Response:
        # Tokens are HS256 with a secret key: there is no public key to publish.
        return json_response({"keys": []})

    async def token(self, request: Request) -> Response:
        tenant, org = self._tenant(request)
        form = await _form(request, self._max_body)
        grant = form.get("grant_type", "")
        client_id = form.get("client_id", "")
        scope = form.get("scope", "")
        try:
            if org is None:
                self._tokens.count_other_grant()
                raise GrantError("invalid_request", 90002, "Tenant not found.")
            for name, value in (("grant_type", grant), ("client_id", client_id)):
                if not value:
                    self._tokens.count_other_grant()
                    raise _missing(name)
            if grant == "refresh_token":
                explicit_tenant = tenant.lower() not in ("organizations", "common")
                result = self._tokens.redeem_refresh_token(
                    org if explicit_tenant else None,
                    form.get("refresh_token", ""),
                    client_id,
                    scope,
                )
            elif grant == DEVICE_CODE_GRANT:
                result = self._tokens.poll_device_flow(form.get("device_code", ""), client_id)
            elif grant == "client_credentials":
                result = self._tokens.client_credentials(org, client_id, scope)
            else:
                self._tokens.count_other_grant()
                raise GrantError(
                    "unsupported_grant_type",
                    70003,
                    "The app requested an unsupported grant type.",
                )
        except GrantError as exc:
            return entra_error(exc.error, exc.code, exc.description, exc.status)
        return json_response(result, 200, _NO_STORE)

    async def devicecode(self, request: Request) -> Response:
        tenant, org = self._tenant(request)
        form = await _form(request, self._max_body)
        if org is None:
            return entra_error("invalid_request", 90002, "Tenant not found.")
        if not form.get("client_id"):
            missing = _missing("client_id")
            return entra_error(missing.error, missing.code, missing.description)
        explicit_tenant = tenant.lower() not in ("organizations", "common")
        try:
            result = self._tokens.start_device_flow(
                org if explicit_tenant else None,
                form["client_id"],
                form.get("scope", ""),
                form.get("login_hint"),
                f"{str(request.base_url).rstrip('/')}/devicelogin",
            )
        except GrantError as exc:
            return entra_error(exc.error, exc.code, exc.description, exc.status)
        return json_response(result, 200, _NO_STORE)

    async def devicelogin(self, request: Request) -> Response:
        return PlainTextResponse(
            "The Partner Center sandbox approves device codes by itself: nothing to do here.\n"
        )
