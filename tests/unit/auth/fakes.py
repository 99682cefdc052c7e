"""Fakes for the auth tests: an in-memory refresh-token store and an msal app on a script."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from shared.auth.errors import RefreshTokenMissing, RefreshTokenStoreError


@dataclass
class MemoryStore:
    token: str | None = "refresh-token-0-5d1e"
    saved: list[str] = field(default_factory=list)
    loads: int = 0
    fail_saves: bool = False

    def describe(self) -> str:
        return "memory://test"

    async def load(self) -> str:
        self.loads += 1
        if self.token is None:
            raise RefreshTokenMissing(self.describe())
        return self.token

    async def save(self, token: str) -> None:
        if self.fail_saves:
            raise RefreshTokenStoreError(self.describe(), "disk full", transient=True)
        self.saved.append(token)
        self.token = token


@dataclass
class ScriptedApp:
    """`acquire_token_by_refresh_token` answering from a list of results (or exceptions).

    `gate`, when given, holds every call until it is set: concurrency tests use it to make sure
    all callers are waiting before the token request completes.
    """

    results: list[dict[str, Any] | Exception]
    calls: list[str] = field(default_factory=list)
    gate: threading.Event | None = None

    def acquire_token_by_refresh_token(
        self, refresh_token: str, scopes: list[str]
    ) -> dict[str, Any]:
        self.calls.append(refresh_token)
        assert scopes == ["https://api.partner.microsoft.com/.default"]
        if self.gate is not None:
            assert self.gate.wait(timeout=30)
        result = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        if isinstance(result, Exception):
            raise result
        return result


def granted(n: int, *, expires_in: int = 3600, refresh_token: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "access_token": f"access-token-{n}-93be",
        "token_type": "Bearer",
        "expires_in": expires_in,
    }
    if refresh_token is not None:
        result["refresh_token"] = refresh_token
    return result
