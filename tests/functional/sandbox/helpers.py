"""Helpers for the sandbox's functional tests (constants, a fake clock, request bodies)."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from tests.conftest import REQUEST_EXAMPLE

BASE = "http://sandbox.test"
REFERRALS = "/v1.0/engagements/referrals"
MSFT_TARGET = [{"type": "BusinessProfileLocation", "id": "msft"}]


class FakeClock:
    """POSIX wall clock the test moves by hand (token expiry, timestamps)."""

    def __init__(self, now: float = 1_750_000_000.25) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def example(**changes: Any) -> dict[str, Any]:
    """The documented request example with top-level fields replaced."""
    body = copy.deepcopy(REQUEST_EXAMPLE)
    body.update(changes)
    return body


async def create(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    """POST the example (with `changes`) and return the created referral."""
    response = await client.post(REFERRALS, json=example(**changes))
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


def kept(sent: Any, got: Any) -> bool:
    """Whether every value `sent` is in `got` (which may have more members, as nulls)."""
    if isinstance(sent, dict):
        return isinstance(got, dict) and all(kept(v, got.get(k)) for k, v in sent.items())
    if isinstance(sent, list):
        return (
            isinstance(got, list)
            and len(sent) == len(got)
            and all(kept(a, b) for a, b in zip(sent, got, strict=True))
        )
    return bool(sent == got)
