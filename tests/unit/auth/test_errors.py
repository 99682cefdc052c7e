"""OAuth error results become typed, actionable auth errors."""

from __future__ import annotations

import pytest

from shared.auth.errors import (
    AppCredentialRejected,
    AuthError,
    ReauthenticationRequired,
    RefreshTokenMissing,
    TokenRequestFailed,
    TokenServiceUnavailable,
    aadsts_code,
    from_oauth_error,
)

SECRET_DESCRIPTION = (
    "AADSTS70008: The refresh token has expired due to inactivity for sue@contoso.com"
)


@pytest.mark.parametrize("error", ["invalid_grant", "interaction_required", "consent_required"])
def test_a_dead_refresh_token_says_to_run_login_and_names_the_aadsts_code(error: str) -> None:
    result = {"error": error, "error_description": SECRET_DESCRIPTION, "error_codes": [70008]}

    exc = from_oauth_error(result, store="keyvault://kv/partner-refresh-token")

    assert isinstance(exc, ReauthenticationRequired)
    assert not exc.transient
    assert exc.aadsts == "AADSTS70008"
    text = str(exc)
    assert "referral-relay login --store keyvault://kv/partner-refresh-token" in text
    assert "AADSTS70008" in text
    assert error in text
    assert "sue@contoso.com" not in text
    assert "inactivity" not in text


def test_the_aadsts_code_is_read_from_the_description_when_codes_are_missing() -> None:
    assert aadsts_code({"error_description": "AADSTS50076: MFA needed"}) == "AADSTS50076"
    assert aadsts_code({"error": "invalid_grant"}) is None


def test_a_rejected_app_credential_points_at_the_credential_settings() -> None:
    exc = from_oauth_error({"error": "invalid_client", "error_codes": [7000215]})

    assert isinstance(exc, AppCredentialRejected)
    assert "AADSTS7000215" in str(exc)
    assert "RELAY_APP_CREDENTIAL" in str(exc)


def test_try_later_errors_are_transient() -> None:
    exc = from_oauth_error({"error": "temporarily_unavailable"})

    assert isinstance(exc, TokenServiceUnavailable)
    assert exc.transient


def test_anything_else_is_a_permanent_token_request_failure() -> None:
    exc = from_oauth_error({"error": "invalid_scope", "error_description": "scope x@y is wrong"})

    assert isinstance(exc, TokenRequestFailed)
    assert not exc.transient
    assert "x@y" not in str(exc)


def test_a_missing_refresh_token_is_a_reauthentication_naming_the_store() -> None:
    exc = RefreshTokenMissing("file:///tmp/rt")

    assert isinstance(exc, ReauthenticationRequired)
    assert isinstance(exc, AuthError)
    assert str(exc) == (
        "no refresh token is stored at file:///tmp/rt: run `referral-relay login --store "
        "file:///tmp/rt` to sign in again (Referrals Admin, with MFA)"
    )
