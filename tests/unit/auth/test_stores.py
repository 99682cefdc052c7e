"""Refresh-token stores: a 0600 file, a Key Vault secret (through a fake SecretClient), URLs."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceRequestError

from shared.auth.errors import RefreshTokenMissing, RefreshTokenStoreError
from shared.auth.stores import (
    FileRefreshTokenStore,
    KeyVaultRefreshTokenStore,
    default_token_path,
    store_from_url,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@contextmanager
def umask(value: int) -> Iterator[None]:
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


async def test_the_file_store_round_trips_with_mode_0600(tmp_path: Path) -> None:
    store = FileRefreshTokenStore(tmp_path / "rt")

    with umask(0):
        await store.save("refresh-token-1")

    assert await store.load() == "refresh-token-1"
    assert mode(tmp_path / "rt") == 0o600
    assert store.describe() == (tmp_path / "rt").as_uri()


async def test_a_store_in_a_missing_directory_is_refused_and_creates_nothing(
    tmp_path: Path,
) -> None:
    # `login --store file:///nonexistent/dir/token` must not silently create a directory tree.
    store = store_from_url(f"file://{tmp_path}/nonexistent/dir/token")
    assert isinstance(store, FileRefreshTokenStore)

    with pytest.raises(RefreshTokenStoreError) as early:
        store.check_location()
    with pytest.raises(RefreshTokenStoreError) as caught:
        await store.save("refresh-token-1")

    assert names(tmp_path) == []
    assert not caught.value.transient
    assert f"the directory {tmp_path}/nonexistent/dir does not exist" in str(caught.value)
    assert str(early.value) == str(caught.value)
    assert "refresh-token-1" not in str(caught.value)


async def test_the_default_token_file_gets_its_directories_created_0700_under_umask_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    default = tmp_path / "config" / "referral-relay" / "refresh-token"
    assert default_token_path() == default
    store = store_from_url(f"file://{default}")
    assert isinstance(store, FileRefreshTokenStore)

    with umask(0):
        store.check_location()
        await store.save("refresh-token-1")

    assert default.read_text() == "refresh-token-1"
    assert mode(default) == 0o600
    assert mode(tmp_path / "config") == 0o700
    assert mode(tmp_path / "config" / "referral-relay") == 0o700


async def test_without_xdg_config_home_the_default_is_under_the_home_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))

    assert default_token_path() == tmp_path / ".config" / "referral-relay" / "refresh-token"
    assert FileRefreshTokenStore("~/.config/referral-relay/refresh-token").create_parent
    assert not FileRefreshTokenStore(tmp_path / "elsewhere" / "refresh-token").create_parent


async def test_an_explicit_create_parent_makes_every_missing_level_0700(tmp_path: Path) -> None:
    store = FileRefreshTokenStore(tmp_path / "a" / "b" / "rt", create_parent=True)

    with umask(0):
        await store.save("refresh-token-1")

    assert mode(tmp_path / "a") == 0o700
    assert mode(tmp_path / "a" / "b") == 0o700
    assert mode(tmp_path / "a" / "b" / "rt") == 0o600


async def test_replacing_a_readable_file_leaves_a_0600_file_and_no_temporaries(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rt"
    path.write_text("old")
    os.chmod(path, 0o644)
    store = FileRefreshTokenStore(path)

    await store.save("refresh-token-2")

    assert path.read_text() == "refresh-token-2"
    assert mode(path) == 0o600
    assert names(tmp_path) == ["rt"]


@pytest.mark.parametrize("content", [None, "", "  \n"])
async def test_no_token_in_the_file_means_login_is_needed(
    tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "rt"
    if content is not None:
        path.write_text(content)

    with pytest.raises(RefreshTokenMissing, match="referral-relay login"):
        await FileRefreshTokenStore(path).load()


async def test_an_unreadable_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "rt").mkdir()  # a directory where the file should be

    with pytest.raises(RefreshTokenStoreError) as caught:
        await FileRefreshTokenStore(tmp_path / "rt").load()

    assert not caught.value.transient


@dataclass
class FakeSecretClient:
    """The two SecretClient calls, answering from a dict or raising a scripted error."""

    secrets: dict[str, str] = field(default_factory=dict)
    content_types: list[str | None] = field(default_factory=list)
    error: Exception | None = None
    closed: bool = False

    async def get_secret(self, name: str) -> Any:
        if self.error:
            raise self.error
        if name not in self.secrets:
            raise ResourceNotFoundError("SecretNotFound")

        @dataclass
        class Secret:
            value: str

        return Secret(self.secrets[name])

    async def set_secret(self, name: str, value: str, *, content_type: str | None = None) -> Any:
        if self.error:
            raise self.error
        self.secrets[name] = value
        self.content_types.append(content_type)

    async def close(self) -> None:
        self.closed = True


def http_error(status: int) -> HttpResponseError:
    error = HttpResponseError(message=f"status {status}")
    error.status_code = status
    return error


async def test_the_key_vault_store_reads_and_writes_its_secret() -> None:
    client = FakeSecretClient()
    store = KeyVaultRefreshTokenStore(
        "https://kv.vault.azure.net", "partner-refresh-token", client=client
    )

    await store.save("refresh-token-3")

    assert await store.load() == "refresh-token-3"
    assert client.secrets == {"partner-refresh-token": "refresh-token-3"}
    assert client.content_types == ["application/vnd.referral-relay.refresh-token"]
    assert store.describe() == "keyvault://kv.vault.azure.net/partner-refresh-token"


async def test_a_missing_secret_means_login_is_needed() -> None:
    store = KeyVaultRefreshTokenStore("https://kv.vault.azure.net", "rt", client=FakeSecretClient())

    with pytest.raises(RefreshTokenMissing, match="referral-relay login"):
        await store.load()


@pytest.mark.parametrize(
    ("error", "transient", "reason"),
    [
        (http_error(403), False, "Key Vault Secrets Officer"),
        (http_error(503), True, "HTTP 503"),
        (http_error(429), True, "HTTP 429"),
        (http_error(400), False, "HTTP 400"),
        (ServiceRequestError("dns"), True, "ServiceRequestError"),
    ],
)
async def test_key_vault_failures_are_store_errors_marked_transient_or_not(
    error: Exception, transient: bool, reason: str
) -> None:
    store = KeyVaultRefreshTokenStore(
        "https://kv.vault.azure.net", "rt", client=FakeSecretClient(error=error)
    )

    for call in (store.load(), store.save("refresh-token-4")):
        with pytest.raises(RefreshTokenStoreError) as caught:
            await call
        assert caught.value.transient is transient
        assert reason in str(caught.value)
        assert "refresh-token-4" not in str(caught.value)


def test_store_urls_name_a_file_or_a_key_vault_secret(tmp_path: Path) -> None:
    absolute = store_from_url(f"file://{tmp_path}/rt")
    relative = store_from_url("file://dev/rt")
    vault = store_from_url("keyvault://my-vault/partner-refresh-token")
    sovereign = store_from_url("keyvault://my-vault.vault.azure.cn/partner-refresh-token")

    assert isinstance(absolute, FileRefreshTokenStore)
    assert absolute.path == tmp_path / "rt"
    assert isinstance(relative, FileRefreshTokenStore)
    assert relative.path == Path("dev/rt")
    assert isinstance(vault, KeyVaultRefreshTokenStore)
    assert vault.vault_url == "https://my-vault.vault.azure.net"
    assert vault.secret_name == "partner-refresh-token"
    assert vault.describe() == "keyvault://my-vault/partner-refresh-token"
    assert isinstance(sovereign, KeyVaultRefreshTokenStore)
    assert sovereign.vault_url == "https://my-vault.vault.azure.cn"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "s3://bucket/x",
        "file://",
        "keyvault://vault",
        "keyvault://vault/bad_name",
        "keyvault://v/x",
    ],
)
def test_bad_store_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="store URL"):
        store_from_url(url)


async def test_the_key_vault_store_builds_the_sdk_client_lazily_and_closes_what_it_built() -> None:
    store = KeyVaultRefreshTokenStore(
        "https://kv.vault.azure.net", "rt", managed_identity_client_id="mi"
    )

    client = store._secret_client()
    await store.aclose()

    assert type(client).__name__ == "SecretClient"
    assert store._client is None
