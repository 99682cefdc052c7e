"""The whole pipeline for the kits: the sandbox on loopback + the local host's functions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from local_host.partner import PartnerConnection, sandbox_partner
from local_host.stack import LocalStack, local_stack
from partner_sandbox import SandboxConfig
from shared.contracts.referral import Referral


@pytest.fixture
async def partner() -> AsyncIterator[PartnerConnection]:
    async with sandbox_partner(SandboxConfig(seed=15)) as connection:
        yield connection


@pytest.fixture
async def stack(partner: PartnerConnection) -> AsyncIterator[LocalStack]:
    async with local_stack(partner.api) as local:
        yield local


def stored(partner: PartnerConnection) -> list[Referral]:
    """The referrals the sandbox holds for its default organisation."""
    assert partner.app is not None
    sandbox = partner.app.sandbox
    org = sandbox.config.default_organization.id
    return [Referral.model_validate(r) for r in sandbox.store.select(org)]
