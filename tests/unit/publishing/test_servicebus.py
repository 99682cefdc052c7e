"""ServiceBusPublisher against a fake client: the exact SDK messages, sender reuse, close()."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, cast

import pytest
from azure.identity.aio import ManagedIdentityCredential
from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.exceptions import ServiceBusConnectionError

from shared.contracts.events import (
    OutboundEvent,
    ReferralCreatedData,
    ReferralCreatedEvent,
    event_id,
    to_outbound,
)
from shared.names import EVENTS_TOPIC, REFERRAL_CREATED, REQUESTS_QUEUE
from shared.publishing.port import ScheduledMessage
from shared.publishing.servicebus import (
    CLOUDEVENTS_CONTENT_TYPE,
    SENDERS_PER_ENTITY,
    ServiceBusPublisher,
)
from shared.settings import Settings, SettingsError
from tests.unit.publishing.fakes import FakeCredential, FakeServiceBusClient

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

TOPIC = ("topic", EVENTS_TOPIC)
QUEUE = ("queue", REQUESTS_QUEUE)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
WHEN = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def created_event(n: int = 1) -> OutboundEvent:
    event = ReferralCreatedEvent(
        id=event_id(REFERRAL_CREATED, f"ref-{n}"),
        source="/referral-relay/create",
        time=WHEN,
        subject=f"CRM-{n}",
        data=ReferralCreatedData(
            idempotencyKey=f"CRM-{n}",
            externalReferenceId=f"CRM-{n}",
            referralId=f"ref-{n}",
            engagementId=f"eng-{n}",
            referralType="Shared",
            messageId=f"msg-{n}",
        ),
    )
    return to_outbound(
        event, correlation_id=f"corr-{n}", referral_type="Shared", traceparent=TRACEPARENT
    )


def scheduled(enqueue_at: datetime | None = WHEN, queue: str = REQUESTS_QUEUE) -> ScheduledMessage:
    return ScheduledMessage(
        queue=queue,
        body=b'{"externalReferenceId": "CRM-1"}',
        message_id="msg-1#2",
        correlation_id="corr-1",
        application_properties={"relayAttempt": 2, "relayOriginalMessageId": "msg-1"},
        enqueue_at=enqueue_at,
    )


def wire(message: ServiceBusMessage) -> dict[str, Any]:
    """Everything a receiver sees of the message."""
    assert type(message) is ServiceBusMessage
    return {
        "body": b"".join(message.body),
        "message_id": message.message_id,
        "subject": message.subject,
        "correlation_id": message.correlation_id,
        "content_type": message.content_type,
        "application_properties": message.application_properties,
        "scheduled_enqueue_time_utc": message.scheduled_enqueue_time_utc,
        "session_id": message.session_id,
        "partition_key": message.partition_key,
        "time_to_live": message.time_to_live,
        "to": message.to,
        "reply_to": message.reply_to,
    }


NOTHING_ELSE = {
    "session_id": None,
    "partition_key": None,
    "time_to_live": None,
    "to": None,
    "reply_to": None,
}


@pytest.fixture
def client() -> FakeServiceBusClient:
    return FakeServiceBusClient()


@pytest.fixture
def publisher(client: FakeServiceBusClient) -> ServiceBusPublisher:
    return ServiceBusPublisher(client)


async def test_publish_sends_the_event_to_the_topic_with_its_properties(
    client: FakeServiceBusClient, publisher: ServiceBusPublisher
) -> None:
    event = created_event()

    await publisher.publish(event)

    [message] = client.sent_to(TOPIC)
    assert wire(message) == {
        "body": event.body,
        "message_id": "referral-created:ref-1",
        "subject": "referral-created",
        "correlation_id": "corr-1",
        "content_type": "application/cloudevents+json; charset=utf-8",
        "application_properties": {
            "referralType": "Shared",
            "externalReferenceId": "CRM-1",
            "traceparent": TRACEPARENT,
            "Diagnostic-Id": TRACEPARENT,
        },
        "scheduled_enqueue_time_utc": None,
        **NOTHING_ELSE,
    }
    cloud_event = json.loads(b"".join(message.body))
    assert (cloud_event["id"], cloud_event["type"]) == (message.message_id, message.subject)
    assert CLOUDEVENTS_CONTENT_TYPE == "application/cloudevents+json; charset=utf-8"


async def test_an_event_without_properties_sends_no_empty_section(
    client: FakeServiceBusClient, publisher: ServiceBusPublisher
) -> None:
    event = OutboundEvent(
        event_id="referral-rejected:k/msg-9",
        type="referral-rejected",
        subject="k",
        correlation_id="",
        body=b"{}",
    )

    await publisher.publish(event)

    [message] = client.sent_to(TOPIC)
    assert (message.application_properties, message.correlation_id) == (None, None)


async def test_schedule_sends_the_copy_to_its_queue_with_the_enqueue_time(
    client: FakeServiceBusClient, publisher: ServiceBusPublisher
) -> None:
    await publisher.schedule(scheduled())

    assert client.sent_to(TOPIC) == []
    [message] = client.sent_to(QUEUE)
    assert wire(message) == {
        "body": b'{"externalReferenceId": "CRM-1"}',
        "message_id": "msg-1#2",
        "subject": None,
        "correlation_id": "corr-1",
        "content_type": None,
        "application_properties": {"relayAttempt": 2, "relayOriginalMessageId": "msg-1"},
        "scheduled_enqueue_time_utc": WHEN,
        **NOTHING_ELSE,
    }


@pytest.mark.parametrize(
    "enqueue_at",
    [
        datetime(2030, 1, 2, 3, 4, 5),  # naive: read as UTC
        datetime(2030, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
    ],
    ids=["naive", "utc+2"],
)
async def test_the_enqueue_time_is_sent_as_aware_utc(
    client: FakeServiceBusClient, publisher: ServiceBusPublisher, enqueue_at: datetime
) -> None:
    await publisher.schedule(scheduled(enqueue_at))

    [message] = client.sent_to(QUEUE)
    sent_at = message.scheduled_enqueue_time_utc
    assert sent_at == WHEN
    assert sent_at is not None
    assert sent_at.utcoffset() == timedelta(0)


async def test_schedule_without_a_time_sends_now(
    client: FakeServiceBusClient, publisher: ServiceBusPublisher
) -> None:
    await publisher.schedule(scheduled(enqueue_at=None))

    [message] = client.sent_to(QUEUE)
    assert message.scheduled_enqueue_time_utc is None


async def test_one_sender_per_entity_is_opened_once_and_reused(
    client: FakeServiceBusClient, publisher: ServiceBusPublisher
) -> None:
    for n in range(3):
        await publisher.publish(created_event(n))
        await publisher.schedule(scheduled())
    await publisher.schedule(scheduled(queue="other-queue"))

    assert sorted(s.entity for s in client.senders) == [
        ("queue", "other-queue"),
        QUEUE,
        TOPIC,
    ]
    assert all(s.opened == 1 and s.closed == 0 for s in client.senders)
    assert [m.message_id for m in client.sent_to(TOPIC)] == [
        f"referral-created:ref-{n}" for n in range(3)
    ]
    assert len(client.sent_to(QUEUE)) == 3


async def test_a_burst_opens_at_most_the_pool_and_each_sender_sends_one_at_a_time(
    client: FakeServiceBusClient, publisher: ServiceBusPublisher
) -> None:
    await asyncio.gather(*(publisher.publish(created_event(n)) for n in range(20)))

    senders = client.senders_for(TOPIC)
    assert len(senders) == SENDERS_PER_ENTITY  # 20 sends, 4 links, the other 16 waited
    assert all(s.opened == 1 and s.max_in_flight == 1 for s in senders)
    sent = [m.message_id for m in client.sent_to(TOPIC)]
    assert len(sent) == 20
    assert set(sent) == {f"referral-created:ref-{n}" for n in range(20)}


async def test_sends_wait_for_a_free_sender_once_the_pool_is_full() -> None:
    gate = asyncio.Event()
    client = FakeServiceBusClient(gates={TOPIC: gate})
    publisher = ServiceBusPublisher(client, senders_per_entity=2)

    sends = [asyncio.create_task(publisher.publish(created_event(n))) for n in range(5)]
    for _ in range(20):
        await asyncio.sleep(0)
    assert sum(s.in_flight for s in client.senders) == 2  # two links busy, three sends queued
    gate.set()
    await asyncio.gather(*sends)

    assert len(client.senders) == 2
    assert len(client.sent_to(TOPIC)) == 5


async def test_a_failed_open_lets_a_waiting_send_open_one_instead() -> None:
    client = FakeServiceBusClient(open_errors=[ServiceBusConnectionError(message="refused")])
    publisher = ServiceBusPublisher(client, senders_per_entity=1)

    first, second = await asyncio.gather(
        publisher.publish(created_event(1)),
        publisher.publish(created_event(2)),
        return_exceptions=True,
    )

    assert isinstance(first, ServiceBusConnectionError)
    assert second is None  # it did not wait for a sender that would never come
    failed, working = client.senders_for(TOPIC)
    assert [m.message_id for m in working.sent] == ["referral-created:ref-2"]
    assert failed.sent == []


async def test_close_turns_away_sends_still_waiting_for_a_sender() -> None:
    gate = asyncio.Event()
    client = FakeServiceBusClient(gates={TOPIC: gate})
    publisher = ServiceBusPublisher(client, senders_per_entity=1)
    under_way = asyncio.create_task(publisher.publish(created_event(1)))
    await client.sending.wait()
    waiting = asyncio.create_task(publisher.publish(created_event(2)))
    for _ in range(5):
        await asyncio.sleep(0)

    closing = asyncio.create_task(publisher.close())
    with pytest.raises(RuntimeError, match="closed"):
        await waiting
    gate.set()
    await asyncio.gather(under_way, closing)

    [sender] = client.senders
    assert ([m.message_id for m in sender.sent], sender.closed) == (["referral-created:ref-1"], 1)


async def test_a_held_send_on_one_entity_does_not_hold_another() -> None:
    gate = asyncio.Event()
    client = FakeServiceBusClient(gates={TOPIC: gate})
    publisher = ServiceBusPublisher(client)

    publishing = asyncio.create_task(publisher.publish(created_event()))
    await publisher.schedule(scheduled())

    assert not publishing.done()
    assert len(client.sent_to(QUEUE)) == 1
    gate.set()
    await publishing
    assert len(client.sent_to(TOPIC)) == 1


async def test_a_sender_that_fails_to_open_is_closed_and_not_reused() -> None:
    client = FakeServiceBusClient(open_errors=[ServiceBusConnectionError(message="refused")])
    publisher = ServiceBusPublisher(client)

    with pytest.raises(ServiceBusConnectionError):
        await publisher.publish(created_event(1))
    await publisher.publish(created_event(2))

    failed, working = client.senders_for(TOPIC)
    assert (failed.closed, failed.sent) == (1, [])
    assert (working.opened, working.closed) == (1, 0)
    assert [m.message_id for m in working.sent] == ["referral-created:ref-2"]


async def test_close_closes_senders_then_client_then_credential() -> None:
    client = FakeServiceBusClient()
    credential = cast("AsyncTokenCredential", FakeCredential(client.log))
    publisher = ServiceBusPublisher(client, credential=credential)
    await publisher.publish(created_event())
    await publisher.schedule(scheduled())

    await publisher.close()
    await publisher.close()  # idempotent

    assert sorted(client.log[:2]) == [
        f"close sender queue/{REQUESTS_QUEUE}",
        f"close sender topic/{EVENTS_TOPIC}",
    ]
    assert client.log[2:] == ["close client", "close credential"]
    with pytest.raises(RuntimeError, match="closed"):
        await publisher.publish(created_event())


async def test_close_lets_a_send_under_way_finish() -> None:
    gate = asyncio.Event()
    client = FakeServiceBusClient(gates={TOPIC: gate})
    publisher = ServiceBusPublisher(client)
    publishing = asyncio.create_task(publisher.publish(created_event()))
    await client.sending.wait()

    closing = asyncio.create_task(publisher.close())
    for _ in range(10):
        await asyncio.sleep(0)
    assert client.senders[0].closed == 0
    gate.set()
    await asyncio.gather(publishing, closing)

    [sender] = client.senders
    assert (len(sender.sent), sender.closed, client.closed) == (1, 1, 1)


def settings(**env: str) -> Settings:
    return Settings.from_env(
        {
            "RELAY_PARTNER_TENANT_ID": "tenant",
            "RELAY_PARTNER_CLIENT_ID": "client",
            "RELAY_REFRESH_TOKEN_STORE": "file:///tmp/unused",
            "AZURE_CLIENT_ID": "mi-client-id",
            **env,
        }
    )


async def test_from_settings_uses_the_managed_identity_on_the_namespace() -> None:
    publisher = ServiceBusPublisher.from_settings(
        settings(ServiceBusConnection__fullyQualifiedNamespace="relay-ns.servicebus.windows.net")
    )
    try:
        client: Any = publisher._client
        assert isinstance(client, ServiceBusClient)
        assert client.fully_qualified_namespace == "relay-ns.servicebus.windows.net"
        assert isinstance(publisher._credential, ManagedIdentityCredential)
    finally:
        await publisher.close()  # no sender was opened: nothing connects


def test_from_settings_needs_the_namespace() -> None:
    with pytest.raises(SettingsError) as caught:
        ServiceBusPublisher.from_settings(settings())

    assert [name for name, _ in caught.value.problems] == [
        "ServiceBusConnection__fullyQualifiedNamespace"
    ]
