"""One place assembles the Partner API client stack; everything else asks it."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest

from shared.partner_api.stack import build_partner_api, partner_api_from_settings
from shared.partner_api.transport import SpreadTransport
from shared.settings import Settings
from tests.conftest import REPO
from tests.unit.partner_api.fakes import FakeTokens

STACK = REPO / "shared" / "partner_api" / "stack.py"
DEFINED_IN = REPO / "shared" / "partner_api" / "client.py"
PRODUCT = ["shared", "local_host", "bench", "relay_cli", "partner_sandbox"]


def calls_to(path: Path, names: set[str]) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in names:
                found.append(f"{path.relative_to(REPO)}:{node.lineno} {name}")
    return found


def test_only_the_stack_module_builds_a_client_or_its_http_client() -> None:
    sources = [p for d in PRODUCT for p in sorted((REPO / d).rglob("*.py"))]
    sources += [REPO / "function_app.py"]
    offending = [
        hit
        for path in sources
        if path not in (STACK, DEFINED_IN)
        for hit in calls_to(path, {"PartnerApiClient", "create_http_client"})
    ]

    assert calls_to(STACK, {"PartnerApiClient", "create_http_client"})  # the check can see calls
    assert offending == []


async def test_the_stack_builds_the_production_http_client_and_closes_it() -> None:
    api = build_partner_api(
        FakeTokens(), base_url="https://api.partner.example", connect_timeout=2, read_timeout=9
    )

    assert isinstance(api.http._transport, SpreadTransport)
    assert api.http.follow_redirects is False
    assert api.http.timeout == httpx.Timeout(9, connect=2)
    await api.aclose()
    assert api.http.is_closed


async def test_an_injected_http_client_stays_the_callers() -> None:
    http = httpx.AsyncClient()
    api = build_partner_api(FakeTokens(), base_url="https://api.partner.example", http=http)

    await api.aclose()

    assert api.http is http
    assert not http.is_closed
    await http.aclose()


@pytest.mark.parametrize("given_tokens", [True, False])
async def test_from_settings_takes_url_timeouts_and_the_sam_provider(given_tokens: bool) -> None:
    settings = Settings.from_env(
        {
            "RELAY_PARTNER_API_URL": "https://api.partner.example",
            "RELAY_PARTNER_TENANT_ID": "contoso.onmicrosoft.com",
            "RELAY_PARTNER_CLIENT_ID": "3c5d7e9f-1111-4222-8333-944455556666",
            "RELAY_REFRESH_TOKEN_STORE": "keyvault://relay-vault/partner-refresh-token",
            "RELAY_APP_CREDENTIAL": "secret",
            "RELAY_CLIENT_SECRET": "not-a-real-secret",
            "RELAY_HTTP_CONNECT_TIMEOUT_SECONDS": "3",
            "RELAY_HTTP_READ_TIMEOUT_SECONDS": "12",
        }
    )
    tokens = FakeTokens() if given_tokens else None

    api = partner_api_from_settings(settings, tokens=tokens)

    assert api.http.timeout == httpx.Timeout(12, connect=3)
    if tokens is not None:
        assert api.tokens is tokens
    else:
        assert type(api.tokens).__name__ == "SamTokenProvider"
    await api.aclose()
