"""Issue 15 item 5: the Python kit publishes to and reads from the real functions on the local host.

The kit's own code runs; only `ServiceBusClient` is swapped for the broker-backed fake. The
Partner API is the sandbox, served on loopback and reached through the production client stack.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from local_host.partner import PartnerConnection
from local_host.stack import LocalStack
from shared import names
from tests.examples.conftest import stored
from tests.examples.fake_service_bus import FakeServiceBusClient

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / "examples" / "python"
OPPORTUNITY: dict[str, Any] = json.loads((ROOT / "examples" / "crm-opportunity.json").read_text())
SCHEMA = json.loads((ROOT / "schemas" / "referral-request.schema.json").read_text())


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"kit_{name}", KIT / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


publisher = _load("publisher")
consumer = _load("consumer")


def publish(stack: LocalStack, opportunity: dict[str, Any]) -> FakeServiceBusClient:
    client = FakeServiceBusClient(stack.broker)
    with client.get_queue_sender(publisher.QUEUE) as sender:
        publisher.send_referral(sender, publisher.referral_from_opportunity(opportunity))
    return client


def read_outcomes(client: FakeServiceBusClient) -> list[Any]:
    written: list[Any] = []
    with client.get_subscription_receiver(consumer.TOPIC, consumer.SUBSCRIPTION) as receiver:
        consumer.receive_outcomes(receiver, written.append, max_wait_time=0)
    return written


def test_the_kit_names_the_deployed_entities() -> None:
    assert publisher.QUEUE == names.REQUESTS_QUEUE
    assert (consumer.TOPIC, consumer.SUBSCRIPTION) == (
        names.EVENTS_TOPIC,
        names.OUTCOMES_SUBSCRIPTION,
    )


@pytest.mark.parametrize("share", [False, True])
def test_the_mapped_referral_is_a_valid_message(share: bool) -> None:
    opportunity = copy.deepcopy(OPPORTUNITY)
    if share:
        opportunity.update(shareWithMicrosoft=True, solutionId="SOL-34104-EBB")
    referral = publisher.referral_from_opportunity(opportunity)
    Draft202012Validator(SCHEMA).validate(referral)
    message = publisher.referral_message(referral)
    assert message.message_id == referral["externalReferenceId"] == opportunity["id"]
    assert json.loads(b"".join(message.body)) == referral


async def test_a_private_deal_is_created_once_and_written_back(
    stack: LocalStack, partner: PartnerConnection
) -> None:
    client = publish(stack, OPPORTUNITY)
    publish(stack, OPPORTUNITY)  # a resend after a doubt: still one referral
    assert await stack.drain()
    [referral] = stored(partner)
    assert referral.externalReferenceId == "OPP-0042"
    sent = client.senders[0].sent[0]
    assert sent.message_id == "OPP-0042"
    assert sent.content_type == "application/json"

    written = read_outcomes(client)
    assert [(o.event_type, o.crm_id, o.referral_id, o.engagement_id) for o in written] == [
        ("referral-created", "OPP-0042", referral.id, referral.engagementId)
    ]
    outcomes = stack.broker.entity(
        topic=names.EVENTS_TOPIC, subscription=names.OUTCOMES_SUBSCRIPTION
    )
    assert outcomes.pending_count() == 0  # completed after the write-back


async def test_a_co_sell_request_writes_back_both_referrals(
    stack: LocalStack, partner: PartnerConnection
) -> None:
    opportunity = copy.deepcopy(OPPORTUNITY)
    opportunity.update(shareWithMicrosoft=True, solutionId="SOL-34104-EBB")
    client = publish(stack, opportunity)
    assert await stack.drain()
    ours, microsoft = sorted(stored(partner), key=lambda r: r.targets_microsoft())
    written = read_outcomes(client)
    assert [o.event_type for o in written] == ["referral-created", "referral-connected"]
    connected = written[1]
    assert (connected.referral_id, connected.engagement_id) == (ours.id, ours.engagementId)
    assert connected.connected_referral_id == microsoft.id


async def test_a_refused_record_comes_back_with_field_errors(
    stack: LocalStack, partner: PartnerConnection
) -> None:
    opportunity = copy.deepcopy(OPPORTUNITY)
    opportunity["account"]["countryCode"] = "CHE"  # alpha-3: Partner Center wants alpha-2
    client = publish(stack, opportunity)
    assert await stack.drain()
    assert stored(partner) == []
    [outcome] = read_outcomes(client)
    assert outcome.event_type == "referral-rejected"
    assert outcome.crm_id == "OPP-0042"
    assert [e["path"] for e in outcome.errors] == ["/customerProfile/address/country"]


async def test_a_failed_write_back_leaves_the_outcome_for_the_next_read(stack: LocalStack) -> None:
    client = publish(stack, OPPORTUNITY)
    assert await stack.drain()

    def crm_down(outcome: Any) -> None:
        raise ConnectionError("CRM unavailable")

    with (
        client.get_subscription_receiver(consumer.TOPIC, consumer.SUBSCRIPTION) as receiver,
        pytest.raises(ConnectionError),
    ):
        consumer.receive_outcomes(receiver, crm_down, max_wait_time=0)
    written = read_outcomes(client)  # abandoned, so delivered again
    assert [o.event_type for o in written] == ["referral-created"]


async def test_peek_only_looks(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    client = publish(stack, OPPORTUNITY)
    assert await stack.drain()
    with client.get_subscription_receiver(consumer.TOPIC, consumer.SUBSCRIPTION) as receiver:
        assert consumer.peek_outcomes(receiver, max_messages=10) == 1
    assert capsys.readouterr().out.startswith("referral-created    crm=OPP-0042  referral=")
    assert [o.event_type for o in read_outcomes(client)] == ["referral-created"]


def test_the_kit_type_checks_against_the_sdk() -> None:
    """mypy --strict: the kit's Protocols fit the real ServiceBusSender / ServiceBusReceiver."""
    done = subprocess.run(  # noqa: S603 - our own interpreter on our own files
        [sys.executable, "-m", "mypy", "--strict", *map(str, sorted(KIT.glob("*.py")))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
