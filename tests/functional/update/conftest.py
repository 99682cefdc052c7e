"""update_referral on one machine: sandbox on loopback + local host + in-memory ledger/marks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from local_host.partner import PartnerConnection, sandbox_partner
from local_host.stack import LocalStack, local_stack
from partner_sandbox import SandboxConfig
from shared import names
from tests.functional.pipeline.conftest import FAST


@pytest.fixture
async def partner() -> AsyncIterator[PartnerConnection]:
    async with sandbox_partner(SandboxConfig(seed=11)) as connection:
        yield connection


@pytest.fixture
async def stack(partner: PartnerConnection) -> AsyncIterator[LocalStack]:
    async with local_stack(partner.api, config=FAST) as local:
        yield local


def body(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


def send_update(stack: LocalStack, update: dict[str, Any], message_id: str | None = None) -> str:
    return stack.publish(body(update), message_id=message_id, queue=names.UPDATES_QUEUE)


def events(stack: LocalStack, event_type: str) -> list[dict[str, Any]]:
    return [json.loads(e.body) for e in stack.publisher.of_type(event_type)]


async def stored(partner: PartnerConnection, referral_id: str) -> dict[str, Any]:
    """The referral as the sandbox holds it (read through the admin side: no API call counted)."""
    assert partner.app is not None
    found = partner.app.sandbox.store.find(referral_id.lower())
    assert found is not None
    return dict(found[1])


def patches(partner: PartnerConnection) -> int:
    assert partner.app is not None
    return sum(partner.app.sandbox.stats()["requests"].get("update", {}).values())


async def admin(partner: PartnerConnection, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    assert partner.sandbox is not None
    response = await partner.http.post(f"{partner.sandbox.admin}{path}", json=payload)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result
