"""How the app registration proves itself to Entra ID when it redeems the refresh token.

`RELAY_APP_CREDENTIAL` chooses one; each becomes an msal `client_credential`:

* `federated` (preferred): no secret exists. msal calls `ManagedIdentityAssertion`, which asks the
  function's user-assigned managed identity (`AZURE_CLIENT_ID`) for a token for
  `api://AzureADTokenExchange` and hands it over as the client assertion. The app registration
  trusts that identity through a federated identity credential.
* `certificate`: `RELAY_CLIENT_CERTIFICATE_PEM` holds the private key and the certificate in PEM
  (what Key Vault returns for a PEM certificate). msal signs assertions with the key and derives
  the SHA-256 thumbprint (x5t#S256) from the certificate.
* `secret`: `RELAY_CLIENT_SECRET`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Protocol

from shared.auth.errors import TokenServiceUnavailable
from shared.settings import AppCredentialKind, Settings, SettingsError

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken

FEDERATION_SCOPE: Final = "api://AzureADTokenExchange/.default"


class SyncTokenCredential(Protocol):
    """`azure.core.credentials.TokenCredential`, as far as we need it."""

    def get_token(self, *scopes: str) -> AccessToken: ...


class ManagedIdentityAssertion:
    """msal `client_assertion` callable: a federation token from the managed identity.

    msal calls it (in our worker thread) only when it sends a token request; azure-identity
    caches the managed identity's token until shortly before it expires. The credential is built
    on the first call, so azure-identity is not imported at start-up.
    """

    def __init__(
        self, credential: SyncTokenCredential | None = None, *, client_id: str | None = None
    ) -> None:
        if credential is None and not client_id:
            raise ValueError("a credential or a managed identity client id is needed")
        self._credential = credential
        self._client_id = client_id

    def __call__(self) -> str:
        try:
            if self._credential is None:
                from azure.identity import ManagedIdentityCredential

                self._credential = ManagedIdentityCredential(client_id=self._client_id)
            return self._credential.get_token(FEDERATION_SCOPE).token
        except Exception as exc:  # IMDS hiccups and misconfiguration both land here
            raise TokenServiceUnavailable(
                f"managed identity gave no federation token: {type(exc).__name__}"
            ) from None


def certificate_credential(
    pem: str, *, variable: str = "RELAY_CLIENT_CERTIFICATE_PEM"
) -> dict[str, str]:
    """msal's certificate credential from one PEM holding a private key and its certificate.

    Raises `SettingsError` naming `variable` (never echoing its content) when the PEM lacks a
    key or a matching certificate, or the key is encrypted.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    data = pem.encode()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise SettingsError(
            [(variable, "the private key is encrypted; store it unencrypted in Key Vault")]
        ) from None
    except ValueError:
        raise SettingsError([(variable, "no PEM private key found")]) from None
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise SettingsError([(variable, "no PEM certificate found")]) from None
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    matching = [
        c
        for c in certificates
        if c.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == public
    ]
    if not matching:
        raise SettingsError([(variable, "no certificate matches the private key")])
    return {
        "private_key": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        "public_certificate": matching[0].public_bytes(serialization.Encoding.PEM).decode(),
    }


def client_credential(
    settings: Settings, *, managed_identity: SyncTokenCredential | None = None
) -> str | dict[str, Any]:
    """The msal `client_credential` for the kind `settings.app_credential` names.

    `managed_identity` replaces the real managed identity for the federated kind (tests).
    """
    kind = settings.app_credential
    if kind is AppCredentialKind.SECRET:
        if not settings.client_secret:
            raise SettingsError(
                [("RELAY_CLIENT_SECRET", "required when RELAY_APP_CREDENTIAL=secret")]
            )
        return settings.client_secret
    if kind is AppCredentialKind.CERTIFICATE:
        if not settings.client_certificate_pem:
            raise SettingsError(
                [("RELAY_CLIENT_CERTIFICATE_PEM", "required when RELAY_APP_CREDENTIAL=certificate")]
            )
        return certificate_credential(settings.client_certificate_pem)
    if managed_identity is not None:
        return {"client_assertion": ManagedIdentityAssertion(managed_identity)}
    if not settings.managed_identity_client_id:
        raise SettingsError([("AZURE_CLIENT_ID", "required when RELAY_APP_CREDENTIAL=federated")])
    return {
        "client_assertion": ManagedIdentityAssertion(client_id=settings.managed_identity_client_id)
    }
