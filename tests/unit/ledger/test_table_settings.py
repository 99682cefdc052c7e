"""TableLedger from settings, and its row keys (no network: the SDK clients connect lazily)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

from shared.ledger.table import TableLedger, row_key
from shared.settings import Settings, SettingsError

BASE = {
    "RELAY_PARTNER_TENANT_ID": "tenant",
    "RELAY_PARTNER_CLIENT_ID": "client",
    "RELAY_REFRESH_TOKEN_STORE": "file:///tmp/unused",
}
TABLE_URL = "https://relaystore.table.core.windows.net/"


def settings(**env: str) -> Settings:
    return Settings.from_env({**BASE, **env})


async def test_managed_identity_with_the_table_url() -> None:
    ledger = TableLedger.from_settings(
        settings(AZURE_CLIENT_ID="mi-client-id", RELAY_LEDGER_TABLE_URL=TABLE_URL)
    )
    try:
        client: Any = ledger._client
        credential: Any = ledger._credential
        assert isinstance(credential, ManagedIdentityCredential)
        assert client.credential is credential
        assert client.url == "https://relaystore.table.core.windows.net"
        assert ledger.table_name == "referralledger"  # names.LEDGER_TABLE, the default
    finally:
        await ledger.close()
    assert ledger._credential is None  # closed and let go


async def test_default_azure_credential_without_a_managed_identity_client_id() -> None:
    ledger = TableLedger.from_settings(
        settings(
            RELAY_APP_CREDENTIAL="secret",
            RELAY_CLIENT_SECRET="not-a-real-secret",
            RELAY_LEDGER_TABLE_URL=TABLE_URL,
            RELAY_LEDGER_TABLE="otherledger",
        )
    )
    try:
        assert isinstance(ledger._credential, DefaultAzureCredential)
        assert ledger.table_name == "otherledger"
    finally:
        await ledger.close()


async def test_a_connection_string_wins_and_needs_no_credential() -> None:
    connection_string = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "TableEndpoint=http://127.0.0.1:1/devstoreaccount1;"
    )
    ledger = TableLedger.from_settings(
        settings(
            AZURE_CLIENT_ID="mi-client-id",
            RELAY_LEDGER_TABLE_URL=TABLE_URL,
            RELAY_LEDGER_CONNECTION_STRING=connection_string,
        )
    )
    try:
        client: Any = ledger._client
        assert ledger._credential is None
        assert client.url == "http://127.0.0.1:1/devstoreaccount1"
    finally:
        await ledger.close()


def test_no_table_settings_is_a_settings_error() -> None:
    with pytest.raises(SettingsError) as caught:
        TableLedger.from_settings(settings(AZURE_CLIENT_ID="mi-client-id"))

    assert [name for name, _ in caught.value.problems] == ["RELAY_LEDGER_TABLE_URL"]


def test_row_key_is_the_sha256_hex_of_the_utf8_key() -> None:
    assert row_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert row_key("é") == hashlib.sha256(b"\xc3\xa9").hexdigest()


@pytest.mark.parametrize("key", ["", "a/b\\c#d?e\x00", "k" * 5_000, "lone \ud800 surrogate"])
def test_row_key_is_always_a_valid_table_key(key: str) -> None:
    value = row_key(key)

    assert len(value) == 64
    assert set(value) <= set("0123456789abcdef")
    assert value != row_key(key + " ")
