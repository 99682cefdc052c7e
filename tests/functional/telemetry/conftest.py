"""The pipeline through the local host and the served sandbox, with every exporter captured.

The capture starts before the sandbox connection so that the Partner API client is built while
telemetry is active (it is instrumented when it is built, as in Azure on the first invocation).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from local_host.partner import PartnerConnection, sandbox_partner
from local_host.stack import LocalStack, local_stack
from local_host.telemetry import Capture, capture
from partner_sandbox import SandboxConfig
from shared.handlers.common import HandlerConfig

# Small budgets so that give-up paths finish quickly; the broker's time warp skips the waits.
FAST = HandlerConfig(
    max_attempts=3, retry_budget_seconds=1.5, claim_ttl_seconds=30, reschedule_base_seconds=5
)


@pytest.fixture
def captured() -> Iterator[Capture]:
    with capture() as c:
        yield c


@pytest.fixture
async def partner(captured: Capture) -> AsyncIterator[PartnerConnection]:
    async with sandbox_partner(SandboxConfig(seed=7, hang_s=0.3)) as connection:
        yield connection


@pytest.fixture
async def stack(partner: PartnerConnection) -> AsyncIterator[LocalStack]:
    async with local_stack(partner.api, config=FAST) as local:
        yield local
