"""The whole pipeline on one machine: sandbox on loopback + local host + in-memory ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from local_host.partner import PartnerConnection, sandbox_partner
from local_host.stack import LocalStack, local_stack
from partner_sandbox import SandboxConfig
from shared.handlers.common import HandlerConfig

# Small budgets so that give-up paths finish quickly; the broker's time warp skips the waits.
FAST = HandlerConfig(
    max_attempts=3,
    retry_budget_seconds=1.5,
    claim_ttl_seconds=30,
    reschedule_base_seconds=5,
    # connect's paced look-ups wait inside the invocation in real time (no time warp there).
    relookup_delays_seconds=(0.2, 0.4, 0.8),
)


@pytest.fixture
async def partner() -> AsyncIterator[PartnerConnection]:
    async with sandbox_partner(SandboxConfig(seed=7)) as connection:
        yield connection


@pytest.fixture
async def stack(partner: PartnerConnection) -> AsyncIterator[LocalStack]:
    async with local_stack(partner.api, config=FAST) as local:
        yield local
