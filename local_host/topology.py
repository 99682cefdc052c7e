"""The Service Bus topology of the deployment, built in memory from `shared.names` — the same
module the Bicep is checked against, so the local broker and Azure cannot drift apart."""

from __future__ import annotations

from typing import Any

from local_host.broker import BrokerMessage, CorrelationFilter, InMemoryServiceBus
from shared import names
from shared.contracts.events import OutboundEvent
from shared.publishing.memory import InMemoryPublisher
from shared.publishing.port import ScheduledMessage

CONTENT_TYPE_CLOUDEVENTS = "application/cloudevents+json; charset=utf-8"
CONNECT_FILTER = CorrelationFilter(
    subject=names.CONNECT_FILTER_SUBJECT, properties=dict(names.CONNECT_FILTER_PROPERTIES)
)


def build_broker(*, max_delivery_count: int = 10, lock_seconds: float = 60.0) -> InMemoryServiceBus:
    broker = InMemoryServiceBus()
    broker.add_queue(
        names.REQUESTS_QUEUE, max_delivery_count=max_delivery_count, lock_seconds=lock_seconds
    )
    broker.add_queue(
        names.UPDATES_QUEUE, max_delivery_count=max_delivery_count, lock_seconds=lock_seconds
    )
    broker.add_topic(names.EVENTS_TOPIC)
    broker.add_subscription(
        names.EVENTS_TOPIC,
        names.CONNECT_SUBSCRIPTION,
        CONNECT_FILTER,
        max_delivery_count=max_delivery_count,
        lock_seconds=lock_seconds,
    )
    broker.add_subscription(names.EVENTS_TOPIC, names.OUTCOMES_SUBSCRIPTION, None)
    return broker


def broker_publisher(broker: InMemoryServiceBus) -> InMemoryPublisher:
    """The in-memory publisher port adapter, delivering into the broker like Service Bus."""

    async def on_event(event: OutboundEvent) -> None:
        broker.send(
            names.EVENTS_TOPIC,
            BrokerMessage(
                body=event.body,
                message_id=event.event_id,
                correlation_id=event.correlation_id,
                subject=event.type,
                content_type=CONTENT_TYPE_CLOUDEVENTS,
                application_properties=dict(event.application_properties),
            ),
        )

    async def on_schedule(message: ScheduledMessage) -> None:
        broker.send(
            message.queue,
            BrokerMessage(
                body=message.body,
                message_id=message.message_id,
                correlation_id=message.correlation_id,
                application_properties=dict(message.application_properties),
                scheduled_enqueue_time=message.enqueue_at,
            ),
        )

    return InMemoryPublisher(on_event=on_event, on_schedule=on_schedule)


def inbound(
    body: bytes,
    *,
    message_id: str,
    correlation_id: str | None = None,
    properties: dict[str, Any] | None = None,
) -> BrokerMessage:
    """A message as a publisher would put it on `referral-requests` (or `referral-updates`)."""
    return BrokerMessage(
        body=body,
        message_id=message_id,
        correlation_id=correlation_id,
        content_type="application/json",
        application_properties=dict(properties or {}),
    )
