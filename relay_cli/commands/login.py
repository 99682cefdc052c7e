"""`referral-relay login`: the one interactive sign-in of the Secure Application Model.

A user with the Partner Center Referrals Admin role signs in with the device code flow (MFA
happens in their browser); the refresh token that comes back is written to the refresh-token store
the function app reads (`RELAY_REFRESH_TOKEN_STORE`). The command prints where it stored the token,
never the token. Against the sandbox's authority the sign-in completes without a browser.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any
from urllib.parse import urlsplit

from shared.settings import DEFAULT_AUTHORITY_HOST

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "login",
        help="sign in once (device code) and store the Partner Center refresh token",
        description=(
            "Sign in with the device code flow as a Partner Center Referrals Admin and store the "
            "refresh token where the function app reads it. Defaults come from the app settings "
            "in the environment (RELAY_AUTHORITY_HOST, RELAY_PARTNER_TENANT_ID, "
            "RELAY_PARTNER_CLIENT_ID, RELAY_REFRESH_TOKEN_STORE)."
        ),
    )
    parser.add_argument(
        "--authority",
        metavar="URL",
        help="authority URL, e.g. https://login.microsoftonline.com/<tenant> or the sandbox's; "
        "a URL without a path gets /<tenant> appended "
        "(default: $RELAY_AUTHORITY_HOST/<tenant>)",
    )
    parser.add_argument("--tenant", metavar="T", help="partner tenant id or domain")
    parser.add_argument("--client-id", metavar="C", help="application (client) id")
    parser.add_argument(
        "--store",
        metavar="URL",
        help="keyvault://VAULT/SECRET or file://PATH (default: $RELAY_REFRESH_TOKEN_STORE)",
    )
    parser.add_argument(
        "--confidential",
        choices=["secret", "certificate"],
        help="sign in as the confidential app, with its secret ($RELAY_CLIENT_SECRET) or "
        "certificate ($RELAY_CLIENT_CERTIFICATE_PEM): Entra ID lets a confidential client redeem "
        "only a refresh token issued to a confidential client (default: a public client sign-in)",
    )
    parser.set_defaults(handler=run)


def _authority(args: argparse.Namespace, tenant: str | None) -> str:
    authority: str = (
        args.authority or os.environ.get("RELAY_AUTHORITY_HOST") or DEFAULT_AUTHORITY_HOST
    )
    if urlsplit(authority).path.strip("/"):
        return authority.rstrip("/")
    if not tenant:
        raise ValueError("--tenant (or RELAY_PARTNER_TENANT_ID) is needed with this authority")
    return f"{authority.rstrip('/')}/{tenant}"


def run(args: argparse.Namespace) -> int:
    from shared.auth.errors import AuthError, from_oauth_error
    from shared.auth.stores import store_from_url
    from shared.settings import SettingsError

    tenant = args.tenant or os.environ.get("RELAY_PARTNER_TENANT_ID")
    client_id = args.client_id or os.environ.get("RELAY_PARTNER_CLIENT_ID")
    store_url = args.store or os.environ.get("RELAY_REFRESH_TOKEN_STORE")
    try:
        if not client_id:
            raise ValueError("--client-id (or RELAY_PARTNER_CLIENT_ID) is required")
        if not store_url:
            raise ValueError("--store (or RELAY_REFRESH_TOKEN_STORE) is required")
        authority = _authority(args, tenant)
        _check_file_store(store_url)
        store = store_from_url(store_url)
        credential = _app_credential(args.confidential)
    except (ValueError, SettingsError) as exc:
        print(f"referral-relay login: {exc}", file=sys.stderr)
        return EXIT_USAGE

    try:
        result = _device_code_sign_in(client_id, authority, credential)
    except KeyboardInterrupt:
        print("\nSign-in cancelled; nothing was stored.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except AuthError as exc:
        print(f"Sign-in failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if "error" in result:
        print(f"Sign-in failed: {from_oauth_error(result)}", file=sys.stderr)
        return EXIT_FAILED
    refresh_token = result.get("refresh_token")
    if not isinstance(refresh_token, str) or not refresh_token:
        print(
            "Sign-in failed: no refresh token came back (is offline_access allowed for the app?)",
            file=sys.stderr,
        )
        return EXIT_FAILED

    try:
        asyncio.run(_save(store, refresh_token))
    except AuthError as exc:
        print(f"Signed in, but storing the refresh token failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"Stored the Partner Center refresh token in {store.describe()}")
    return EXIT_OK


def _check_file_store(url: str) -> None:
    """A typo must not create a directory tree silently: the store may create its own folder
    (0700), but that folder's parent must exist."""
    from pathlib import Path

    from shared.auth.stores import FileLocation, parse_store_url

    where = parse_store_url(url)
    if isinstance(where, FileLocation):
        folder = Path(where.path).expanduser().parent
        if not folder.is_dir() and not folder.parent.is_dir():
            raise ValueError(f"--store: the folder {folder.parent} does not exist (create it)")


def _app_credential(kind: str | None) -> str | dict[str, str] | None:
    """The app's own credential for a confidential sign-in, from the app settings variables."""
    from shared.auth.app_credentials import certificate_credential
    from shared.settings import SettingsError

    if kind is None:
        return None
    name = "RELAY_CLIENT_SECRET" if kind == "secret" else "RELAY_CLIENT_CERTIFICATE_PEM"
    value = os.environ.get(name)
    if not value:
        raise SettingsError([(name, f"required with --confidential {kind}")])
    return value if kind == "secret" else certificate_credential(value)


def _device_code_sign_in(
    client_id: str, authority: str, credential: str | dict[str, str] | None
) -> dict[str, Any]:
    """Run the device code flow; print the URL and code; return the token response (a dict)."""
    import httpx
    import msal
    from msal.exceptions import MsalServiceError

    from shared.auth.errors import TokenServiceUnavailable
    from shared.auth.msal_http import MsalHttpClient
    from shared.auth.sam_provider import PARTNER_API_SCOPE, is_loopback_authority

    options: dict[str, Any] = {
        "authority": authority,
        "instance_discovery": not is_loopback_authority(authority),
        "token_cache": msal.TokenCache(),
    }
    with MsalHttpClient() as http:
        try:
            if credential is None:
                public = msal.PublicClientApplication(client_id, http_client=http, **options)
                # msal adds offline_access (the refresh token) to the scopes itself.
                flow: dict[str, Any] = public.initiate_device_flow(scopes=[PARTNER_API_SCOPE])
                if "user_code" not in flow:
                    return flow
                _show(flow)
                result: dict[str, Any] = public.acquire_token_by_device_flow(flow)
                return result
            app = msal.ConfidentialClientApplication(
                client_id, client_credential=credential, http_client=http, **options
            )
            # msal offers the device flow on public clients only. Its OAuth client (`app.client`,
            # already holding the app credential) runs the same flow as a confidential client,
            # so the refresh token is one the function app may redeem with its own credential.
            scopes = [PARTNER_API_SCOPE, "offline_access", "openid", "profile"]
            flow = app.client.initiate_device_flow(scope=scopes)
            if "user_code" not in flow:
                return flow
            _show(flow)
            result = app.client.obtain_token_by_device_flow(flow)
            return result
        except (httpx.HTTPError, MsalServiceError, ValueError) as exc:
            # Unreachable authority, a 5xx, or an answer that is not OAuth JSON.
            raise TokenServiceUnavailable(f"{type(exc).__name__} from {authority}") from None


def _show(flow: dict[str, Any]) -> None:
    print(flow.get("message") or _instructions(flow), file=sys.stderr, flush=True)


def _instructions(flow: dict[str, Any]) -> str:
    return (
        f"To sign in, open {flow.get('verification_uri')} and enter the code {flow['user_code']}."
    )


async def _save(store: Any, refresh_token: str) -> None:
    try:
        await store.save(refresh_token)
    finally:
        close = getattr(store, "aclose", None)
        if close is not None:
            await close()
