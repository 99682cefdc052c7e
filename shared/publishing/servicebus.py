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

A small pool of senders per entity (`SENDERS_PER_ENTITY`), each created and its link opened on
first need, then reused by every invocation of the worker process: opening a link costs a token
and an AMQP attach. A sender does one send at a time: the SDK's async sender is not safe for
concurrent sends (two coroutines can race to reopen its link - Azure/azure-sdk-for-python#35618,
#36334). One sender would cap a worker at one event per round trip (about 200/s at 5 ms, while
`maxConcurrentCalls` 16 per function can finish more than that when the Partner API is fast);
a send waits for an idle sender only once the pool is full, and the most recently used sender
goes first, so a quiet worker keeps using one link.

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


SENDERS_PER_ENTITY: Final = 4


@dataclass
class _Pool:
    """The senders of one entity. `count` includes senders still being opened."""

    idle: list[Sender] = field(default_factory=list)
    count: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def all_idle(self) -> bool:
        return len(self.idle) == self.count


class ServiceBusPublisher:
    """Publishes through one Service Bus client; build it once per worker (`from_settings`)."""

    def __init__(
        self,
        client: ServiceBusClientLike,
        *,
        credential: AsyncTokenCredential | None = None,
        senders_per_entity: int = SENDERS_PER_ENTITY,
    ) -> None:
        """`credential`: one this publisher owns and closes after the client (from_settings)."""
        if senders_per_entity < 1:
            raise ValueError("senders_per_entity must be at least 1")
        self._client = client
        self._credential = credential
        self._per_entity = senders_per_entity
        self._pools: dict[Entity, _Pool] = {}
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
        already under way finish first; later ones raise."""
        if self._closed:
            return
        self._closed = True
        senders: list[Sender] = []
        for pool in list(self._pools.values()):
            async with pool.changed:
                pool.changed.notify_all()  # waiters for a sender: closed now
                await pool.changed.wait_for(pool.all_idle)
                senders += pool.idle
                pool.idle, pool.count = [], 0
        # Exit runs last-in first-out and runs every callback even when one raises.
        async with contextlib.AsyncExitStack() as stack:
            if self._credential is not None:
                stack.push_async_callback(self._credential.close)
                self._credential = None
            stack.push_async_callback(self._client.close)
            for sender in senders:
                stack.push_async_callback(sender.close)

    async def _send(self, entity: Entity, message: ServiceBusMessage) -> None:
        pool = self._pools.setdefault(entity, _Pool())
        sender = await self._acquire(entity, pool)
        try:
            await sender.send_messages(message)
        finally:
            async with pool.changed:
                pool.idle.append(sender)
                pool.changed.notify()

    async def _acquire(self, entity: Entity, pool: _Pool) -> Sender:
        """An idle sender, else a new one while the pool has room, else the next one freed."""
        async with pool.changed:
            while True:
                if self._closed:
                    raise RuntimeError("ServiceBusPublisher is closed")
                if pool.idle:
                    return pool.idle.pop()
                if pool.count < self._per_entity:
                    pool.count += 1
                    break
                await pool.changed.wait()
        try:
            return await self._open(entity)
        except BaseException:
            async with pool.changed:
                pool.count -= 1
                pool.changed.notify()  # a waiter may open one instead
            raise

    async def _open(self, entity: Entity) -> Sender:
        kind, name = entity
        sender = (
            self._client.get_topic_sender(topic_name=name)
            if kind == "topic"
            else self._client.get_queue_sender(queue_name=name)
        )
        try:
            await sender.__aenter__()
        except BaseException:
            # Not pooled: the next send opens a fresh sender.
            with contextlib.suppress(Exception):
                await sender.close()
            raise
        _log.debug("service bus sender opened for %s %s", kind, name)
        return sender


def _properties(values: Mapping[str, Any]) -> dict[str | bytes, Any] | None:
    properties: dict[str | bytes, Any] = {name: value for name, value in values.items()}
    return properties or None  # no empty application-properties section on the wire


def _as_utc(when: datetime | None) -> datetime | None:
    """Aware UTC for the SDK; a naive time is read as UTC (the property is `..._utc`)."""
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
