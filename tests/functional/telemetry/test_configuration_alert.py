"""Issue 12 §2: a 403 from Partner Center (the signed-in user lacks the Referrals Admin role)
holds every message and fires the configuration alert: the summary lines the real pipeline
writes match the alert's KQL predicates (read from infra/modules/alerts.bicep)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from local_host.partner import PartnerConnection, SandboxEndpoints, connect_sandbox
from local_host.stack import local_stack
from local_host.telemetry import Capture
from partner_sandbox import SandboxConfig, create_app
from partner_sandbox.server import serving
from shared import names
from tests.functional.telemetry.conftest import FAST
from tests.functional.telemetry.test_trace import summaries
from tests.infra.alert_queries import configuration_alert

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


@pytest.fixture
async def without_role(captured: Capture) -> AsyncIterator[PartnerConnection]:
    """The production client stack signed in as a user without the Referrals Admin role."""
    app = create_app(SandboxConfig(seed=7))
    async with serving(app) as ready:
        endpoints = SandboxEndpoints(url=ready.url, authority=ready.authority, admin=ready.admin)
        connection = await connect_sandbox(endpoints, user="norole")
        try:
            yield connection
        finally:
            await connection.aclose()


async def test_a_403_holds_the_message_and_every_attempt_fires_the_alert(
    without_role: PartnerConnection, captured: Capture
) -> None:
    alert = configuration_alert()
    async with local_stack(without_role.api, config=FAST) as stack:
        message_id = stack.publish((SAMPLES / "independent.json").read_bytes())
        assert await stack.drain()
        result = stack.result("independent", message_id)
        assert result.outcome == "failed"  # held, then given up on: never rejected
        assert stack.publisher.of_type(names.REFERRAL_REJECTED) == []
    lines = [line for line in summaries(captured) if line["function"] == "create_referral"]
    # Each attempt called Partner Center and was held; after the last one the lineage has given
    # up and its redeliveries (until Service Bus dead-letters it) make no call.
    attempts = [line for line in lines if line.get("partner_status")]
    assert [line["outcome"] for line in attempts] == ["rescheduled"] * (FAST.max_attempts - 1) + [
        "failed"
    ]
    assert all(line["partner_status"] == "403" for line in attempts)
    assert all(alert.fires_on(line) for line in attempts)
    # The service's own error code (the sandbox's Graph code) is what error_code carries today,
    # which is why the alert reads partner_status too.
    assert {line["error_code"] for line in attempts} <= alert.error_codes | {"accessDenied"}


async def test_a_referral_that_went_through_does_not_fire_it(stack: Any, captured: Capture) -> None:
    alert = configuration_alert()
    stack.publish((SAMPLES / "independent.json").read_bytes())
    assert await stack.drain()
    lines = summaries(captured)
    assert [line["outcome"] for line in lines] == ["created"]
    assert not any(alert.fires_on(line) for line in lines)
