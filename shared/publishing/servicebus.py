"""Service Bus publisher: the deployed implementation of the port (design §3–4).

`publish` sends an outcome event to topic `referral-events`:

    body                    the CloudEvents structured-mode JSON (`OutboundEvent.body`)
    MessageId               the event id — deterministic, so the topic's duplicate detection
                            drops a republished event
    Subject                 the event type (the connect-referral correlation filter reads it)
    CorrelationId           the inbound message's correlation id
    ContentType             application/cloudevents+json; charset=utf-8
    application properties  referralType, externalReferenceId, Diagnostic-Id / traceparent

`schedule` sends a copy of an inbound message to its queue with `ScheduledEnqueueTimeUtc` set on
the message and a plain send, rather than `ServiceBusSender.schedule_messages`: that one is a
request/response call on a second ($management) link and returns sequence numbers for
cancelling, and we never cancel; the message property rides the sender link that is already open
and also covers "now" (no time set).

One sender per entity, created and its link opened on first use, then reused by every
invocation of the worker process: opening a link costs a token and an AMQP attach. Creation is
serialized by a lock so a burst of first calls opens one link, not one each. Sends on one sender
are serialized too: the SDK's async sender is not safe for concurrent sends (two coroutines can
race to reopen its link — Azure/azure-sdk-for-python#35618, #36334). A send on an open link is
one round trip, far below the Partner API latency that bounds throughput.

The Azure SDKs are imported on first use, not at import time (cold start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from shared.names import EVENTS_TOPIC, SERVICE_BUS_CONNECTION

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.servicebus import ServiceBusMessage

    from shared.contracts.events import OutboundEvent
    from shared.publishing.port import ScheduledMessage
    from shared.settings import Settings

CLOUDEVENTS_CONTENT_TYPE: Final = "application/cloudevents+json; charset=utf-8"

_log = logging.getLogger("referral_relay.publisher")  # under our root: scrubbed and exported


class Sender(Protocol):
    """What we use of `azure.servicebus.aio.ServiceBusSender`."""

    async def __aenter__(self) -> Any: ...  # opens the link

    async def send_messages(self, message: ServiceBusMessage) -> None: ...

    async def close(self) -> None: ...


class ServiceBusClientLike(Protocol):
    """What we use of `azure.servicebus.aio.ServiceBusClient`."""

    def get_topic_sender(self, topic_name: str) -> Sender: ...

    def get_queue_sender(self, queue_name: str) -> Sender: ...

    async def close(self) -> None: ...


Entity = tuple[Literal["topic", "queue"], str]


@dataclass
class _Slot:
    sender: Sender
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one send at a time


class ServiceBusPublisher:
    """Publishes through one Service Bus client; build it once per worker (`from_settings`)."""

    def __init__(
        self, client: ServiceBusClientLike, *, credential: AsyncTokenCredential | None = None
    ) -> None:
        """`credential`: one this publisher owns and closes after the client (from_settings)."""
        self._client = client
        self._credential = credential
        self._slots: dict[Entity, _Slot] = {}
        self._open_lock = asyncio.Lock()
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceBusPublisher:
        """The namespace of `ServiceBusConnection__fullyQualifiedNamespace` (the trigger's own
        identity-based connection), reached with the managed identity (`AZURE_CLIENT_ID`), or
        `DefaultAzureCredential` without one. Connects on the first send, not here."""
        from shared.settings import SettingsError

        if not settings.service_bus_namespace:
            raise SettingsError([(f"{SERVICE_BUS_CONNECTION}__fullyQualifiedNamespace", "missing")])
        from azure.servicebus.aio import ServiceBusClient

        from shared.identity import azure_credential

        credential = azure_credential(settings.managed_identity_client_id)
        client = ServiceBusClient(settings.service_bus_namespace, credential)
        return cls(client, credential=credential)

    async def publish(self, event: OutboundEvent) -> None:
        from azure.servicebus import ServiceBusMessage

        message = ServiceBusMessage(
            event.body,
            message_id=event.event_id,
            subject=event.type,
            correlation_id=event.correlation_id or None,
            content_type=CLOUDEVENTS_CONTENT_TYPE,
            application_properties=_properties(event.application_properties),
        )
        await self._send(("topic", EVENTS_TOPIC), message)

    async def schedule(self, message: ScheduledMessage) -> None:
        from azure.servicebus import ServiceBusMessage

        copy = ServiceBusMessage(
            message.body,
            message_id=message.message_id,
            correlation_id=message.correlation_id or None,
            application_properties=_properties(message.application_properties),
            scheduled_enqueue_time_utc=_as_utc(message.enqueue_at),
        )
        await self._send(("queue", message.queue), copy)

    async def close(self) -> None:
        """Close every sender, then the client, then an owned credential; idempotent. Sends
        already under way finish first."""
        if self._closed:
            return
        self._closed = True
        async with self._open_lock:  # not while a link is being opened
            slots, self._slots = list(self._slots.values()), {}
        # Exit runs last-in first-out and runs every callback even when one raises.
        async with contextlib.AsyncExitStack() as stack:
            if self._credential is not None:
                stack.push_async_callback(self._credential.close)
                self._credential = None
            stack.push_async_callback(self._client.close)
            for slot in slots:
                stack.push_async_callback(_close_sender, slot)

    async def _send(self, entity: Entity, message: ServiceBusMessage) -> None:
        slot = self._slots.get(entity) or await self._open(entity)
        async with slot.lock:
            await slot.sender.send_messages(message)

    async def _open(self, entity: Entity) -> _Slot:
        async with self._open_lock:
            slot = self._slots.get(entity)
            if slot is not None:
                return slot  # opened while we waited for the lock
            if self._closed:
                raise RuntimeError("ServiceBusPublisher is closed")
            kind, name = entity
            sender = (
                self._client.get_topic_sender(topic_name=name)
                if kind == "topic"
                else self._client.get_queue_sender(queue_name=name)
            )
            try:
                await sender.__aenter__()
            except BaseException:
                # Not cached: the next send opens a fresh sender.
                with contextlib.suppress(Exception):
                    await sender.close()
                raise
            _log.debug("service bus sender opened for %s %s", kind, name)
            slot = self._slots[entity] = _Slot(sender)
            return slot


async def _close_sender(slot: _Slot) -> None:
    async with slot.lock:
        await slot.sender.close()


def _properties(values: Mapping[str, Any]) -> dict[str | bytes, Any] | None:
    properties: dict[str | bytes, Any] = {name: value for name, value in values.items()}
    return properties or None  # no empty application-properties section on the wire


def _as_utc(when: datetime | None) -> datetime | None:
    """Aware UTC for the SDK; a naive time is read as UTC (the property is `..._utc`)."""
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
