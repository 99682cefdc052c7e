"""Refresh-token stores: an Azure Key Vault secret (deployed) and a 0600 file (development).

Pick one with a store URL — the value of `RELAY_REFRESH_TOKEN_STORE` and of `login --store`:

    keyvault://VAULT/SECRET      secret SECRET in https://VAULT.vault.azure.net
    keyvault://HOST/SECRET       a vault host in full (sovereign clouds): x.vault.azure.cn
    file://PATH                  PATH as written: file:///abs/path, file://relative/path, file://~/x

A file store writes into an existing directory only: a mistyped `--store file:///nonexistent/dir/
token` must not silently create a directory tree. The one exception is the default token file
(`default_token_path()`: `$XDG_CONFIG_HOME/referral-relay/refresh-token`, else
`~/.config/referral-relay/refresh-token`), whose missing directories are created 0700, whatever
the umask.

The Azure SDKs are imported when a Key Vault store is first used, not at import time (cold start).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from shared.auth.errors import RefreshTokenMissing, RefreshTokenStoreError
from shared.store_urls import FileLocation, parse_store_url

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

    from shared.auth.ports import RefreshTokenStore


# Names of a directory and a file, not credentials.
DEFAULT_TOKEN_DIRECTORY = "referral-relay"  # noqa: S105
DEFAULT_TOKEN_FILE = "refresh-token"  # noqa: S105


def default_token_path() -> Path:
    """Where a development refresh token lives unless a store URL says otherwise."""
    config = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(config) if os.path.isabs(config) else Path.home() / ".config"
    return root / DEFAULT_TOKEN_DIRECTORY / DEFAULT_TOKEN_FILE


class FileRefreshTokenStore:
    """A local file, replaced atomically and only ever readable by its owner (mode 0600).

    Its directory must exist, unless the file is the default token file or `create_parent` is
    set: then every missing directory is created with mode 0700 (set explicitly, so a umask of 0
    cannot widen it)."""

    def __init__(self, path: Path | str, *, create_parent: bool | None = None) -> None:
        self.path = Path(path).expanduser()
        if create_parent is None:
            create_parent = self.path.absolute() == default_token_path().absolute()
        self.create_parent = create_parent

    def describe(self) -> str:
        return self.path.absolute().as_uri()

    async def load(self) -> str:
        try:
            text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        except FileNotFoundError:
            raise RefreshTokenMissing(self.describe()) from None
        except OSError as exc:
            raise RefreshTokenStoreError(
                self.describe(), exc.strerror or type(exc).__name__, transient=False
            ) from None
        token = text.strip()
        if not token:
            raise RefreshTokenMissing(self.describe())
        return token

    async def save(self, token: str) -> None:
        try:
            await asyncio.to_thread(self._write, token)
        except OSError as exc:
            raise RefreshTokenStoreError(
                self.describe(), exc.strerror or type(exc).__name__, transient=False
            ) from None

    def _write(self, token: str) -> None:
        self._ensure_directory()
        # mkstemp creates the file 0600 before anything is written; os.replace keeps that mode
        # and swaps the file in atomically, so a reader never sees half a token.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", text=True)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(token)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def check_location(self) -> None:
        """Raise now what `save` would raise about where the file goes: its directory is missing
        and will not be created (so `login` can refuse before the sign-in, not after it)."""
        directory = self.path.absolute().parent
        if not self.create_parent and not directory.is_dir():
            raise RefreshTokenStoreError(
                self.describe(),
                f"the directory {directory} does not exist: create it (mode 0700) or name a "
                "file in an existing directory",
                transient=False,
            )

    def _ensure_directory(self) -> None:
        directory = self.path.absolute().parent
        if directory.is_dir():
            return
        if not self.create_parent:
            self.check_location()
        missing: list[Path] = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for created in reversed(missing):
            try:
                os.mkdir(created, 0o700)
            except FileExistsError:  # another writer was first: its directory, its mode
                continue
            os.chmod(created, 0o700)  # mkdir's mode is masked by the umask; chmod's is not


class _SecretClient(Protocol):
    """The part of `azure.keyvault.secrets.aio.SecretClient` the store uses."""

    async def get_secret(self, name: str) -> Any: ...

    async def set_secret(
        self, name: str, value: str, *, content_type: str | None = None
    ) -> Any: ...

    async def close(self) -> None: ...


class KeyVaultRefreshTokenStore:
    """A Key Vault secret; each rotation stores a new version of it.

    Authenticates with the given credential, else the user-assigned managed identity
    (`managed_identity_client_id`), else `DefaultAzureCredential` (an operator's `az login`).
    The identity needs "Key Vault Secrets Officer" on the vault (get + set).
    """

    def __init__(
        self,
        vault_url: str,
        secret_name: str,
        *,
        description: str | None = None,
        credential: AsyncTokenCredential | None = None,
        managed_identity_client_id: str | None = None,
        client: _SecretClient | None = None,
    ) -> None:
        self.vault_url = vault_url
        self.secret_name = secret_name
        self._description = (
            description or f"keyvault://{vault_url.split('//', 1)[-1]}/{secret_name}"
        )
        self._credential = credential
        self._mi_client_id = managed_identity_client_id
        self._client = client
        self._owned: list[Any] = []  # what this store created and must close

    def describe(self) -> str:
        return self._description

    def _secret_client(self) -> _SecretClient:
        if self._client is None:
            from azure.keyvault.secrets.aio import SecretClient

            credential = self._credential
            if credential is None:
                credential = _default_credential(self._mi_client_id)
                self._owned.append(credential)
            client = SecretClient(vault_url=self.vault_url, credential=credential)
            self._owned.append(client)
            # The SDK's tracing decorators hide its method signatures from mypy.
            self._client = cast(_SecretClient, client)
        return self._client

    async def load(self) -> str:
        client = self._secret_client()
        try:
            secret = await client.get_secret(self.secret_name)
        except Exception as exc:
            raise self._error(exc) from None
        value = getattr(secret, "value", None)
        if not value:
            raise RefreshTokenMissing(self.describe())
        return str(value)

    async def save(self, token: str) -> None:
        client = self._secret_client()
        try:
            await client.set_secret(
                self.secret_name, token, content_type="application/vnd.referral-relay.refresh-token"
            )
        except Exception as exc:
            raise self._error(exc) from None

    async def aclose(self) -> None:
        """Close the SDK client and credential this store created (not injected ones)."""
        for resource in reversed(self._owned):
            await resource.close()
        self._owned.clear()
        self._client = None

    def _error(self, exc: Exception) -> Exception:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        where = self.describe()
        if isinstance(exc, ResourceNotFoundError):
            return RefreshTokenMissing(where)
        if isinstance(exc, ClientAuthenticationError):
            return RefreshTokenStoreError(
                where,
                "no Azure credential for Key Vault (managed identity / az login)",
                transient=False,
            )
        if isinstance(exc, ServiceRequestError | ServiceResponseError):
            return RefreshTokenStoreError(
                where, f"{type(exc).__name__} reaching the vault", transient=True
            )
        if isinstance(exc, HttpResponseError):
            status = exc.status_code
            if status == 403:
                reason = (
                    "access denied: the identity needs 'Key Vault Secrets Officer' on the vault"
                )
                return RefreshTokenStoreError(where, reason, transient=False)
            transient = status is not None and (status == 429 or status >= 500)
            return RefreshTokenStoreError(where, f"HTTP {status}", transient=transient)
        return exc  # not an Azure SDK error: a bug, let it surface as itself


def _default_credential(managed_identity_client_id: str | None) -> Any:
    from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

    if managed_identity_client_id:
        return ManagedIdentityCredential(client_id=managed_identity_client_id)
    return DefaultAzureCredential()


def store_from_url(
    url: str,
    *,
    managed_identity_client_id: str | None = None,
    credential: AsyncTokenCredential | None = None,
) -> RefreshTokenStore:
    """The store a `keyvault://` or `file://` URL names (see the module docstring)."""
    where = parse_store_url(url)
    if isinstance(where, FileLocation):
        return FileRefreshTokenStore(where.path)
    return KeyVaultRefreshTokenStore(
        where.vault_url,
        where.secret_name,
        description=url,
        credential=credential,
        managed_identity_client_id=managed_identity_client_id,
    )
