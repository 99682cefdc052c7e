"""The azure-servicebus adapter's translations, offline: no namespace, no network."""

from __future__ import annotations

from datetime import UTC, datetime

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage
from azure.servicebus._pyamqp.message import Header, Message, Properties

from relay_cli.commands.dlq import plan_replay
from relay_cli.operator.ports import REQUESTS, OutgoingMessage
from relay_cli.operator.servicebus import (
    fully_qualified,
    to_dead_letter,
    to_service_bus_message,
)

ENQUEUED = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DESCRIPTION = "Message could not be consumed after 10 delivery attempts."


def received() -> ServiceBusReceivedMessage:
    """A dead-lettered message as the SDK hands it over (built from its AMQP form)."""
    amqp = Message(
        data=[b'{"externalReferenceId": "crm-1"}'],
        header=Header(delivery_count=10),
        properties=Properties(
            message_id=b"crm-1",
            correlation_id=b"corr-1",
            subject=b"referral-request",
            content_type=b"application/json",
        ),
        application_properties={
            b"DeadLetterReason": b"MaxDeliveryCountExceeded",
            b"DeadLetterErrorDescription": DESCRIPTION.encode(),
            b"relayAttempt": 2,
            b"source": b"crm",
        },
        message_annotations={
            b"x-opt-enqueued-time": int(ENQUEUED.timestamp() * 1000),
            b"x-opt-sequence-number": 42,
        },
    )
    return ServiceBusReceivedMessage(amqp, receiver=None)


def test_outgoing_message_becomes_a_service_bus_message() -> None:
    message = to_service_bus_message(
        OutgoingMessage(
            body=b'{"a": 1}',
            message_id="crm-1",
            correlation_id="corr-1",
            subject="referral-created",
            application_properties={"referralType": "Shared", "relayAttempt": 1},
        )
    )
    assert isinstance(message, ServiceBusMessage)
    assert b"".join(message.body) == b'{"a": 1}'
    assert message.message_id == "crm-1"
    assert message.correlation_id == "corr-1"
    assert message.subject == "referral-created"
    assert message.content_type == "application/json"
    assert message.application_properties == {"referralType": "Shared", "relayAttempt": 1}


def test_received_dead_letter_is_read_with_its_reason_and_facts() -> None:
    letter = to_dead_letter(received())
    assert letter.sequence_number == 42
    assert letter.message_id == "crm-1"
    assert letter.correlation_id == "corr-1"
    assert letter.reason == "MaxDeliveryCountExceeded"
    assert letter.description == DESCRIPTION
    assert letter.delivery_count == 10
    assert letter.enqueued_time == ENQUEUED
    assert letter.body == b'{"externalReferenceId": "crm-1"}'
    assert letter.application_properties["relayAttempt"] == 2
    assert letter.application_properties["source"] == "crm"


def test_a_replayed_copy_keeps_the_envelope_and_drops_the_dead_letter_marks() -> None:
    plan = plan_replay(
        to_dead_letter(received()), entity=REQUESTS, now=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert plan.copy is not None
    message = to_service_bus_message(plan.copy)
    assert b"".join(message.body) == b'{"externalReferenceId": "crm-1"}'
    assert message.message_id == "crm-1"
    assert message.correlation_id == "corr-1"
    assert message.subject == "referral-request"
    assert message.application_properties == {"relayAttempt": 2, "source": "crm"}


def test_namespace_names_are_qualified() -> None:
    assert fully_qualified("sb-abc") == "sb-abc.servicebus.windows.net"
    assert fully_qualified("sb-abc.servicebus.windows.net") == "sb-abc.servicebus.windows.net"
    assert fully_qualified("sb://sb-abc.servicebus.windows.net/") == "sb-abc.servicebus.windows.net"
