"""The operator ports on Azure Service Bus: azure-servicebus (aio) with DefaultAzureCredential.

The namespace has local (SAS) auth disabled, so the operator signs in with Entra ID (`az login`,
azd's sign-in, environment credentials, ...) and needs the roles infra/modules/roles.bicep grants
the azd user: Data Sender on the queue and the topic, Data Receiver on the queue and on the
connect-referral subscription.
"""

from __future__ import annotations

import types
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from azure.identity.aio import DefaultAzureCredential
from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver, ServiceBusSender
from azure.servicebus.amqp import AmqpMessageBodyType

from relay_cli.operator.ports import (
    DeadLetter,
    Delivered,
    Entity,
    OutgoingMessage,
    PropertyValue,
)

NAMESPACE_SUFFIX = ".servicebus.windows.net"
RECEIVE_WAIT_SECONDS = 5.0  # how long an empty dead-letter queue is waited on before giving up
# An operator at a terminal wants a fast, clear failure, not the SDK's defaults (3 retries with
# backoff: ~12 s of silence before an unreachable namespace is reported).
CLIENT_RETRY: dict[str, Any] = {
    "retry_total": 1,
    "retry_backoff_factor": 0.5,
    "retry_backoff_max": 2,
}


def fully_qualified(namespace: str) -> str:
    """`sb-x` or `sb-x.servicebus.windows.net` (or an sb:// URL) → the host name."""
    host = namespace.removeprefix("sb://").removeprefix("https://").rstrip("/")
    return host if "." in host else host + NAMESPACE_SUFFIX


def to_service_bus_message(message: OutgoingMessage) -> ServiceBusMessage:
    return ServiceBusMessage(
        message.body,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        subject=message.subject,
        content_type=message.content_type,
        application_properties={str(k): v for k, v in message.application_properties.items()}
        or None,
    )


def to_dead_letter(message: ServiceBusReceivedMessage) -> DeadLetter:
    return DeadLetter(
        sequence_number=int(message.sequence_number or 0),
        message_id=_text(message.message_id),
        correlation_id=_text(message.correlation_id),
        subject=_text(message.subject),
        content_type=_text(message.content_type),
        reason=message.dead_letter_reason,
        description=message.dead_letter_error_description,
        delivery_count=message.delivery_count,
        enqueued_time=message.enqueued_time_utc,
        application_properties=_properties(message.application_properties),
        body=_body(message),
    )


class ServiceBusOperatorBus:
    """`OperatorBus` on one namespace. Use as `async with ServiceBusOperatorBus(ns) as bus:`."""

    def __init__(self, namespace: str) -> None:
        self.fully_qualified_namespace = fully_qualified(namespace)
        self._credential: DefaultAzureCredential | None = None
        self._client: ServiceBusClient | None = None

    async def __aenter__(self) -> ServiceBusOperatorBus:
        self._credential = DefaultAzureCredential()
        self._client = ServiceBusClient(
            self.fully_qualified_namespace, self._credential, **CLIENT_RETRY
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.close()
        if self._credential is not None:
            await self._credential.close()

    @property
    def client(self) -> ServiceBusClient:
        if self._client is None:
            raise RuntimeError("use ServiceBusOperatorBus as an async context manager")
        return self._client

    @asynccontextmanager
    async def sender(self, entity: Entity) -> AsyncIterator[_Sender]:
        sender = (
            self.client.get_queue_sender(entity.path)
            if entity.is_queue
            else self.client.get_topic_sender(entity.topic)
        )
        async with sender:
            yield _Sender(sender)

    @asynccontextmanager
    async def dead_letter_queue(self, entity: Entity) -> AsyncIterator[_DeadLetterQueue]:
        options: dict[str, Any] = {"sub_queue": ServiceBusSubQueue.DEAD_LETTER, "prefetch_count": 0}
        receiver = (
            self.client.get_queue_receiver(entity.path, **options)
            if entity.is_queue
            else self.client.get_subscription_receiver(entity.topic, entity.subscription, **options)
        )
        async with receiver:
            yield _DeadLetterQueue(receiver)

    @asynccontextmanager
    async def subscription(self, entity: Entity) -> AsyncIterator[_SubscriptionReader]:
        receiver = self.client.get_subscription_receiver(
            entity.topic, entity.subscription, prefetch_count=0
        )
        async with receiver:
            yield _SubscriptionReader(receiver)


def to_delivered(message: ServiceBusReceivedMessage) -> Delivered:
    return Delivered(
        sequence_number=int(message.sequence_number or 0),
        message_id=_text(message.message_id),
        subject=_text(message.subject),
        enqueued_time=message.enqueued_time_utc,
        body=_body(message),
    )


class _SubscriptionReader:
    def __init__(self, receiver: ServiceBusReceiver) -> None:
        self._receiver = receiver
        self._received: dict[int, ServiceBusReceivedMessage] = {}

    async def peek(self, max_count: int, *, from_sequence: int = 0) -> list[Delivered]:
        batch = await self._receiver.peek_messages(max_count, sequence_number=from_sequence)
        return [to_delivered(m) for m in batch]

    async def receive(self, max_count: int, *, wait_seconds: float) -> list[Delivered]:
        batch = await self._receiver.receive_messages(
            max_message_count=max_count, max_wait_time=wait_seconds
        )
        delivered = [to_delivered(m) for m in batch]
        for message, item in zip(batch, delivered, strict=True):
            self._received[item.sequence_number] = message
        return delivered

    async def complete(self, message: Delivered) -> None:
        await self._receiver.complete_message(self._received.pop(message.sequence_number))


class _Sender:
    def __init__(self, sender: ServiceBusSender) -> None:
        self._sender = sender

    async def send(self, message: OutgoingMessage) -> None:
        await self._sender.send_messages(to_service_bus_message(message))


class _DeadLetterQueue:
    def __init__(self, receiver: ServiceBusReceiver) -> None:
        self._receiver = receiver
        self._received: dict[int, ServiceBusReceivedMessage] = {}

    async def peek(self, max_count: int) -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        next_sequence = 0
        while len(letters) < max_count:
            batch = await self._receiver.peek_messages(
                max_count - len(letters), sequence_number=next_sequence
            )
            if not batch:
                break
            letters.extend(to_dead_letter(m) for m in batch)
            next_sequence = int(batch[-1].sequence_number or 0) + 1
        return letters

    async def receive(self, max_count: int) -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        while len(letters) < max_count:
            batch = await self._receiver.receive_messages(
                max_message_count=max_count - len(letters), max_wait_time=RECEIVE_WAIT_SECONDS
            )
            if not batch:
                break
            for message in batch:
                letter = to_dead_letter(message)
                self._received[letter.sequence_number] = message
                letters.append(letter)
        return letters

    async def complete(self, letter: DeadLetter) -> None:
        await self._receiver.complete_message(self._received.pop(letter.sequence_number))

    async def abandon(self, letter: DeadLetter) -> None:
        await self._receiver.abandon_message(self._received.pop(letter.sequence_number))


def _body(message: ServiceBusReceivedMessage) -> bytes:
    if message.body_type == AmqpMessageBodyType.DATA:
        return b"".join(message.body)
    return str(message).encode()  # AMQP value/sequence bodies: not ours, kept as their text


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _properties(raw: Mapping[Any, Any] | None) -> dict[str, PropertyValue]:
    properties: dict[str, PropertyValue] = {}
    for key, value in (raw or {}).items():
        name = _text(key) or ""
        if isinstance(value, bytes):
            properties[name] = value.decode("utf-8", "replace")
        elif isinstance(value, str | int | float | bool):
            properties[name] = value
        else:  # timestamps, uuids and other AMQP types travel as text
            properties[name] = str(value)
    return properties
