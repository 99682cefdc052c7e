"""`RELAY_PARTNER_API_URL`: https only, except plain http to a loopback host (the sandbox)."""

from __future__ import annotations

import pytest

from shared.settings import Settings, SettingsError

ENV = {
    "RELAY_PARTNER_TENANT_ID": "contoso.onmicrosoft.com",
    "RELAY_PARTNER_CLIENT_ID": "3c5d7e9f-1111-4222-8333-944455556666",
    "RELAY_REFRESH_TOKEN_STORE": "keyvault://relay-vault/partner-refresh-token",
    "AZURE_CLIENT_ID": "mi-client-id",
}


@pytest.mark.parametrize(
    "url",
    [
        "https://api.partner.microsoft.com",
        "HTTPS://api.partner.microsoft.com/",
        "http://127.0.0.1:8765",
        "http://localhost:8080",
        "http://[::1]:9000",
    ],
)
def test_https_anywhere_and_http_to_loopback_are_accepted(url: str) -> None:
    settings = Settings.from_env({**ENV, "RELAY_PARTNER_API_URL": url})

    assert settings.partner_api_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://api.partner.microsoft.com",  # a bearer token in clear text
        "http://10.0.0.5",
        "http://127.0.0.1.evil.example",
        "ftp://api.partner.microsoft.com",
        "https:///v1.0",
        "api.partner.microsoft.com",
    ],
)
def test_anything_else_is_refused_naming_the_setting_not_the_value(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**ENV, "RELAY_PARTNER_API_URL": url})

    ((name, why),) = caught.value.problems
    assert name == "RELAY_PARTNER_API_URL"
    assert "https://" in why
    assert url not in str(caught.value)
