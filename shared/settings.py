"""The one typed settings object, read from the environment (the Functions app settings).

Every variable the code reads is declared here, so `infra/` can be checked against it: the Bicep
sets exactly `APP_SETTINGS` plus the host's own `names.HOST_SETTINGS`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.loopback import is_loopback_host
from shared.names import LEDGER_TABLE, SERVICE_BUS_CONNECTION
from shared.store_urls import parse_store_url

DEFAULT_PARTNER_API_URL: Final = "https://api.partner.microsoft.com"
DEFAULT_AUTHORITY_HOST: Final = "https://login.microsoftonline.com"


class AppCredentialKind(StrEnum):
    """How the app registration proves itself to Entra ID when redeeming the refresh token."""

    FEDERATED = "federated"  # client assertion from the managed identity: no secret exists
    SECRET = "secret"  # noqa: S105 - the kind of credential, not a credential
    CERTIFICATE = "certificate"


class SettingsError(Exception):
    """Raised when app settings are missing or malformed; names each variable, never its value."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "; ".join(f"{name}: {why}" for name, why in problems)
        super().__init__(f"invalid app settings — {lines}")


class Settings(BaseSettings):
    """Runtime configuration. Field aliases are the exact environment variable names."""

    model_config = SettingsConfigDict(
        extra="ignore", populate_by_name=True, frozen=True, case_sensitive=True
    )

    partner_api_url: str = Field(DEFAULT_PARTNER_API_URL, alias="RELAY_PARTNER_API_URL")
    tenant_id: str = Field(alias="RELAY_PARTNER_TENANT_ID", min_length=1)
    client_id: str = Field(alias="RELAY_PARTNER_CLIENT_ID", min_length=1)
    authority_host: str = Field(DEFAULT_AUTHORITY_HOST, alias="RELAY_AUTHORITY_HOST")
    app_credential: AppCredentialKind = Field(
        AppCredentialKind.FEDERATED, alias="RELAY_APP_CREDENTIAL"
    )
    client_secret: str | None = Field(None, alias="RELAY_CLIENT_SECRET", repr=False)
    client_certificate_pem: str | None = Field(
        None, alias="RELAY_CLIENT_CERTIFICATE_PEM", repr=False
    )
    refresh_token_store: str = Field(alias="RELAY_REFRESH_TOKEN_STORE", min_length=1)
    managed_identity_client_id: str | None = Field(None, alias="AZURE_CLIENT_ID")

    service_bus_namespace: str | None = Field(
        None,
        validation_alias=AliasChoices(
            f"{SERVICE_BUS_CONNECTION}__fullyQualifiedNamespace", "service_bus_namespace"
        ),
    )
    ledger_table_url: str | None = Field(None, alias="RELAY_LEDGER_TABLE_URL")
    ledger_connection_string: str | None = Field(
        None, alias="RELAY_LEDGER_CONNECTION_STRING", repr=False
    )
    ledger_table: str = Field(
        LEDGER_TABLE, alias="RELAY_LEDGER_TABLE", pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$"
    )

    max_attempts: int = Field(5, alias="RELAY_MAX_ATTEMPTS", ge=1, le=100)
    retry_budget_seconds: float = Field(45.0, alias="RELAY_RETRY_BUDGET_SECONDS", gt=0, le=600)
    # A claim must outlive one invocation's retry budget and lapse before a crashed worker's
    # message is redelivered (the queue's 5-minute lock), so the redelivery can take it over.
    claim_ttl_seconds: float = Field(120.0, alias="RELAY_CLAIM_TTL_SECONDS", gt=0, le=300)
    http_connect_timeout_seconds: float = Field(
        5.0, alias="RELAY_HTTP_CONNECT_TIMEOUT_SECONDS", gt=0
    )
    http_read_timeout_seconds: float = Field(30.0, alias="RELAY_HTTP_READ_TIMEOUT_SECONDS", gt=0)

    applicationinsights_connection_string: str | None = Field(
        None, alias="APPLICATIONINSIGHTS_CONNECTION_STRING", repr=False
    )

    @field_validator("refresh_token_store")
    @classmethod
    def _store_scheme(cls, value: str) -> str:
        parse_store_url(value)  # keyvault://VAULT/SECRET or file://PATH, checked in full
        return value

    @field_validator("partner_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        # Every request carries a bearer token: plain HTTP only to this machine (the sandbox).
        parts = urlsplit(value)
        try:
            host = parts.hostname
        except ValueError:
            host = None
        if not host:
            raise ValueError("must be an https:// URL with a host")
        if parts.scheme.lower() == "https":
            return value
        if parts.scheme.lower() == "http" and is_loopback_host(host):
            return value
        raise ValueError(
            "must be an https:// URL (plain http:// only for a loopback host such as the local "
            "sandbox: every request carries a bearer token)"
        )

    @field_validator("authority_host")
    @classmethod
    def _authority(cls, value: str) -> str:
        if not value.startswith("https://"):  # msal accepts https authorities only
            raise ValueError("must be an https:// URL")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings; raise `SettingsError` naming every missing or malformed variable."""
        env = dict(os.environ if environ is None else environ)
        try:
            settings = cls.model_validate(env)
        except ValidationError as exc:
            raise SettingsError(_problems(cls, exc)) from None
        settings._check_credential()
        settings._check_budgets()
        return settings

    def _check_budgets(self) -> None:
        if self.claim_ttl_seconds <= self.retry_budget_seconds:
            raise SettingsError(
                [
                    (
                        "RELAY_CLAIM_TTL_SECONDS",
                        "must be longer than RELAY_RETRY_BUDGET_SECONDS (a claim covers one "
                        "invocation's retries)",
                    )
                ]
            )

    def _check_credential(self) -> None:
        needed = {
            AppCredentialKind.SECRET: ("RELAY_CLIENT_SECRET", self.client_secret),
            AppCredentialKind.CERTIFICATE: (
                "RELAY_CLIENT_CERTIFICATE_PEM",
                self.client_certificate_pem,
            ),
            AppCredentialKind.FEDERATED: ("AZURE_CLIENT_ID", self.managed_identity_client_id),
        }[self.app_credential]
        if not needed[1]:
            raise SettingsError(
                [(needed[0], f"required when RELAY_APP_CREDENTIAL={self.app_credential.value}")]
            )


def _problems(model: type[Settings], exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for error in exc.errors(include_input=False, include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        info = model.model_fields.get(field)
        name = (info.alias if info and info.alias else field) or field
        if error["type"] == "missing":
            problems.append((name, "missing"))
        else:
            problems.append((name, error["msg"]))
    return problems


# Every environment variable the settings object reads — what the Bicep must set for the app.
APP_SETTINGS: Final[tuple[str, ...]] = tuple(
    sorted(
        {
            info.alias
            for info in Settings.model_fields.values()
            if info.alias and not info.alias.startswith(SERVICE_BUS_CONNECTION)
        }
        | {f"{SERVICE_BUS_CONNECTION}__fullyQualifiedNamespace"}
    )
)

# Read by the code but never deployed: the Azurite connection string is for local runs only.
DEV_ONLY_SETTINGS: Final[tuple[str, ...]] = ("RELAY_LEDGER_CONNECTION_STRING",)
# Set only when RELAY_APP_CREDENTIAL selects them; the deployed default (federated) needs neither.
CONDITIONAL_SETTINGS: Final[tuple[str, ...]] = (
    "RELAY_CLIENT_SECRET",
    "RELAY_CLIENT_CERTIFICATE_PEM",
)
