"""The Secure Application Model token provider, around a scripted msal app and a fake clock."""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import httpx
import pytest
from msal.exceptions import MsalServiceError

from shared.auth.errors import (
    AppCredentialRejected,
    ReauthenticationRequired,
    RefreshTokenMissing,
    TokenServiceUnavailable,
)
from shared.auth.sam_provider import SamTokenProvider, is_loopback_authority
from shared.names import TELEMETRY_EVENT, TOKEN_REFRESH_FAILED
from tests.unit.auth.fakes import MemoryStore, ScriptedApp, granted
from tests.unit.partner_api.fakes import FakeClock

INVALID_GRANT = {
    "error": "invalid_grant",
    "error_description": "AADSTS700082: The refresh token has expired for sue@contoso.com",
    "error_codes": [700082],
}


def provider(
    app: ScriptedApp, store: MemoryStore | None = None, clock: FakeClock | None = None
) -> tuple[SamTokenProvider, MemoryStore, FakeClock]:
    store = store or MemoryStore()
    clock = clock or FakeClock()
    return SamTokenProvider(lambda: app, store, clock=clock), store, clock


async def test_the_token_is_cached_until_five_minutes_before_it_expires() -> None:
    app = ScriptedApp([granted(1), granted(2)])
    tokens, _, clock = provider(app)

    first = await tokens.get_token()
    clock.now += 3600 - 300 - 1
    still = await tokens.get_token()
    clock.now += 1
    renewed = await tokens.get_token()

    assert (first, still, renewed) == (
        "access-token-1-93be",
        "access-token-1-93be",
        "access-token-2-93be",
    )
    assert tokens.token_requests == 2


async def test_a_short_lived_token_is_renewed_at_half_its_life() -> None:
    app = ScriptedApp([granted(1, expires_in=120), granted(2)])
    tokens, _, clock = provider(app)

    await tokens.get_token()
    clock.now += 59
    assert await tokens.get_token() == "access-token-1-93be"
    clock.now += 1
    assert await tokens.get_token() == "access-token-2-93be"


async def test_200_concurrent_callers_on_a_cold_cache_make_one_token_request() -> None:
    gate = threading.Event()
    app = ScriptedApp([granted(1)], gate=gate)
    tokens, store, _ = provider(app)

    callers = [asyncio.create_task(tokens.get_token()) for _ in range(200)]
    await asyncio.sleep(0)  # every caller is now waiting on the one refresh
    gate.set()
    results = await asyncio.gather(*callers)

    assert set(results) == {"access-token-1-93be"}
    assert len(app.calls) == 1
    assert tokens.token_requests == 1
    assert store.loads == 1


async def test_a_failed_refresh_fails_every_waiter_with_one_request() -> None:
    gate = threading.Event()
    app = ScriptedApp([INVALID_GRANT], gate=gate)
    tokens, _, _ = provider(app)

    callers = [asyncio.create_task(tokens.get_token()) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*callers, return_exceptions=True)

    assert all(isinstance(r, ReauthenticationRequired) for r in results)
    assert len(app.calls) == 1


async def test_a_cancelled_caller_does_not_cancel_the_shared_refresh() -> None:
    gate = threading.Event()
    app = ScriptedApp([granted(1)], gate=gate)
    tokens, _, _ = provider(app)

    impatient = asyncio.create_task(tokens.get_token())
    patient = asyncio.create_task(tokens.get_token())
    await asyncio.sleep(0)
    impatient.cancel()
    gate.set()

    assert await patient == "access-token-1-93be"
    assert impatient.cancelled()


async def test_a_rotated_refresh_token_is_written_back_once_and_used_next_time() -> None:
    app = ScriptedApp(
        [
            granted(1, refresh_token="refresh-token-1-aa"),
            granted(2, refresh_token="refresh-token-1-aa"),  # the same one again: no rotation
            granted(3, refresh_token="refresh-token-2-bb"),
        ]
    )
    tokens, store, clock = provider(app)

    for _ in range(3):
        await tokens.get_token()
        clock.now += 3600

    assert store.saved == ["refresh-token-1-aa", "refresh-token-2-bb"]
    assert app.calls == ["refresh-token-0-5d1e", "refresh-token-1-aa", "refresh-token-1-aa"]
    assert tokens.rotations == 2
    assert store.loads == 1


async def test_a_failed_write_back_is_logged_but_the_token_is_still_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = ScriptedApp([granted(1, refresh_token="refresh-token-1-aa")])
    tokens, _, _ = provider(app, MemoryStore(fail_saves=True))

    with caplog.at_level(logging.ERROR, logger="referral_relay.auth"):
        assert await tokens.get_token() == "access-token-1-93be"

    assert tokens.rotations == 0
    assert "rotated refresh token" in caplog.text
    assert "refresh-token-1-aa" not in caplog.text


async def test_invalidate_drops_only_the_token_it_names() -> None:
    app = ScriptedApp([granted(1), granted(2)])
    tokens, _, _ = provider(app)

    first = await tokens.get_token()
    tokens.invalidate("some-older-token")
    assert await tokens.get_token() == first
    tokens.invalidate(first)

    assert await tokens.get_token() == "access-token-2-93be"
    assert tokens.token_requests == 2


async def test_invalid_grant_asks_for_login_and_the_next_try_rereads_the_store(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = ScriptedApp([granted(1, refresh_token="refresh-token-1-aa"), INVALID_GRANT, granted(3)])
    tokens, store, clock = provider(app)
    await tokens.get_token()
    clock.now += 3600

    with (
        caplog.at_level(logging.INFO, logger="referral_relay.auth"),
        pytest.raises(ReauthenticationRequired) as caught,
    ):
        await tokens.get_token()
    store.token = "refresh-token-from-new-login"
    renewed = await tokens.get_token()

    assert "AADSTS700082" in str(caught.value)
    assert "referral-relay login --store memory://test" in str(caught.value)
    assert renewed == "access-token-3-93be"
    assert app.calls[-1] == "refresh-token-from-new-login"
    failure = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert failure.__dict__[TELEMETRY_EVENT] == TOKEN_REFRESH_FAILED
    assert failure.__dict__["aadsts"] == "AADSTS700082"
    assert "sue@contoso.com" not in caplog.text
    assert "refresh-token" not in caplog.text
    assert "access-token" not in caplog.text


async def test_no_stored_refresh_token_asks_for_login_without_a_token_request() -> None:
    app = ScriptedApp([granted(1)])
    tokens, _, _ = provider(app, MemoryStore(token=None))

    with pytest.raises(RefreshTokenMissing):
        await tokens.get_token()

    assert app.calls == []


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        MsalServiceError("HTTP Error: 503", error=None, error_description=None),
        json.JSONDecodeError("Expecting value", "<html>", 0),
    ],
)
async def test_an_unreachable_token_endpoint_is_transient(failure: Exception) -> None:
    app = ScriptedApp([failure, granted(2)])
    tokens, _, _ = provider(app)

    with pytest.raises(TokenServiceUnavailable) as caught:
        await tokens.get_token()

    assert caught.value.transient
    assert await tokens.get_token() == "access-token-2-93be"


async def test_a_rejected_app_credential_is_permanent() -> None:
    app = ScriptedApp([{"error": "invalid_client", "error_codes": [7000215]}])
    tokens, _, _ = provider(app)

    with pytest.raises(AppCredentialRejected, match="AADSTS7000215"):
        await tokens.get_token()


@pytest.mark.parametrize(
    ("authority", "loopback"),
    [
        ("https://127.0.0.1:8123/contoso", True),
        ("https://localhost:9/t", True),
        ("https://[::1]:9/t", True),
        ("https://login.microsoftonline.com/contoso", False),
        ("https://127.0.0.1.evil.example/t", False),
    ],
)
def test_loopback_authorities_are_recognised(authority: str, loopback: bool) -> None:
    assert is_loopback_authority(authority) is loopback
