"""The Azure credential the resource adapters (ledger, publisher) authenticate with.

The SDK is imported on call, not at import time: `function_app`'s import time is the cold start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential


def azure_credential(managed_identity_client_id: str | None) -> AsyncTokenCredential:
    """The user-assigned managed identity when its client id is set (deployed), else
    `DefaultAzureCredential` (an operator's `az login` against real resources).

    The caller owns the credential and must `close()` it.
    """
    from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

    if managed_identity_client_id:
        return ManagedIdentityCredential(client_id=managed_identity_client_id)
    return DefaultAzureCredential()
