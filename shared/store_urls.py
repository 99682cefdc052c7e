"""Store URLs (`RELAY_REFRESH_TOKEN_STORE`, `login --store`): checked and split, nothing opened.

Kept apart from `shared.auth.stores` so that `shared.settings` can validate the setting without
importing the auth package, which itself reads settings (no import cycle between packages,
docs/architecture.md "Layers"). The stores themselves are in `shared.auth.stores`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SECRET_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")  # Key Vault's rule for secret names
_VAULT_NAME = re.compile(r"^[0-9A-Za-z-]{3,24}$")


@dataclass(frozen=True)
class FileLocation:
    path: str


@dataclass(frozen=True)
class VaultLocation:
    vault_url: str
    secret_name: str


def parse_store_url(url: str) -> FileLocation | VaultLocation:
    """Check and split a store URL; `ValueError` says what a good one looks like."""
    if url.startswith("file://"):
        path = url.removeprefix("file://")
        if not path:
            raise ValueError("file:// store URL needs a path, e.g. file:///home/me/.relay/token")
        return FileLocation(path)
    if url.startswith("keyvault://"):
        vault, _, secret = url.removeprefix("keyvault://").partition("/")
        if not ("." in vault or _VAULT_NAME.match(vault)) or not _SECRET_NAME.match(secret):
            raise ValueError(
                "keyvault:// store URL must be keyvault://VAULT/SECRET "
                "(secret names: letters, digits and '-')"
            )
        host = vault if "." in vault else f"{vault}.vault.azure.net"
        return VaultLocation(f"https://{host}", secret)
    raise ValueError("store URL must start with keyvault:// or file://")
