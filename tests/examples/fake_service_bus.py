"""A fake of the azure-servicebus (sync) client surface the kits use, wired to the local host's
in-process broker: the kits' real code runs against the real functions, no Azure needed.

It takes the SDK's own `ServiceBusMessage` and enforces what Service Bus would refuse of it
(body over 256 KB on the Standard tier, a MessageId over 128 characters); received messages
yield their body as the SDK does (an iterator of byte sections), and settlement goes through the
broker's peek-lock, so an abandoned outcome comes back with its delivery count raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any

from azure.servicebus import ServiceBusMessage

from local_host.broker import BrokerMessage, Entity, InMemoryServiceBus

MAX_MESSAGE_BYTES = 256 * 1024  # Standard tier
MAX_MESSAGE_ID = 128


class _Closable:
    closed = False

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.closed = True


class FakeSender(_Closable):
    def __init__(self, broker: InMemoryServiceBus, entity: str) -> None:
        if entity not in broker.queues and entity not in broker.topics:
            raise LookupError(f"no messaging entity {entity}")  # the SDK: MessagingEntityNotFound
        self._broker, self._entity = broker, entity
        self.sent: list[BrokerMessage] = []

    def send_messages(self, message: ServiceBusMessage | list[ServiceBusMessage]) -> None:
        if self.closed:
            raise RuntimeError("the sender is closed")
        for one in message if isinstance(message, list) else [message]:
            if not isinstance(one, ServiceBusMessage):
                raise TypeError(f"send_messages takes ServiceBusMessage, not {type(one).__name__}")
            body = _bytes(one.body)
            if len(body) > MAX_MESSAGE_BYTES:
                raise ValueError(f"message of {len(body)} bytes exceeds {MAX_MESSAGE_BYTES}")
            if one.message_id is None or len(one.message_id) > MAX_MESSAGE_ID:
                raise ValueError("a MessageId of 1 to 128 characters is required here")
            sent = BrokerMessage(
                body=body,
                message_id=one.message_id,
                correlation_id=one.correlation_id,
                subject=one.subject,
                content_type=one.content_type,
                application_properties={
                    str(k): v for k, v in (one.application_properties or {}).items()
                },
            )
            self.sent.append(sent)
            self._broker.send(self._entity, sent)


class FakeReceivedMessage:
    def __init__(self, message: BrokerMessage) -> None:
        self.message = message
        self.message_id = message.message_id
        self.subject = message.subject
        self.delivery_count = message.delivery_count

    @property
    def body(self) -> Iterator[bytes]:
        yield self.message.body

    def __str__(self) -> str:
        return self.message.body.decode("utf-8")


class FakeReceiver(_Closable):
    def __init__(self, entity: Entity) -> None:
        self._entity = entity

    def receive_messages(
        self, max_message_count: int | None = 1, max_wait_time: float | None = None
    ) -> list[FakeReceivedMessage]:
        batch: list[FakeReceivedMessage] = []
        while len(batch) < (max_message_count or 1):
            message = self._entity.receive()
            if message is None:
                break
            batch.append(FakeReceivedMessage(message))
        return batch

    def peek_messages(self, max_message_count: int = 1) -> list[FakeReceivedMessage]:
        # Peek sees active messages without locking them (the broker keeps them in `_ready`).
        return [FakeReceivedMessage(m) for m in list(self._entity._ready)[:max_message_count]]

    def complete_message(self, message: FakeReceivedMessage) -> None:
        self._entity.complete(message.message)

    def abandon_message(self, message: FakeReceivedMessage) -> None:
        self._entity.abandon(message.message)


class FakeServiceBusClient(_Closable):
    """`ServiceBusClient(namespace, credential)` for the local broker."""

    def __init__(self, broker: InMemoryServiceBus) -> None:
        self._broker = broker
        self.senders: list[FakeSender] = []

    def get_queue_sender(self, queue_name: str) -> FakeSender:
        sender = FakeSender(self._broker, queue_name)
        self.senders.append(sender)
        return sender

    def get_subscription_receiver(self, topic_name: str, subscription_name: str) -> FakeReceiver:
        return FakeReceiver(self._broker.entity(topic=topic_name, subscription=subscription_name))


def _bytes(body: Any) -> bytes:
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return b"".join(body)
