"""What the operator commands need from Service Bus, as protocols and plain data.

Dead letters carry their body only so that a replay can resend it; nothing here prints it
(bodies hold customer contact data).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from shared.names import CONNECT_SUBSCRIPTION, EVENTS_TOPIC, OUTCOMES_SUBSCRIPTION, REQUESTS_QUEUE

PropertyValue = str | int | float | bool

# Service Bus records why it dead-lettered a message as these two application properties; a
# replayed copy must not carry them.
DEAD_LETTER_PROPERTIES = frozenset({"DeadLetterReason", "DeadLetterErrorDescription"})


@dataclass(frozen=True, slots=True)
class Entity:
    """A queue (`name`) or a topic subscription (`topic/subscription`)."""

    path: str

    def __post_init__(self) -> None:
        parts = self.path.split("/")
        if not all(parts) or len(parts) > 2:
            raise ValueError(f"not a queue or topic/subscription path: {self.path!r}")

    @property
    def is_queue(self) -> bool:
        return "/" not in self.path

    @property
    def topic(self) -> str:
        return self.path.split("/")[0]

    @property
    def subscription(self) -> str:
        return self.path.split("/")[1]

    @property
    def send_to(self) -> str:
        """Where messages of this entity are sent: the queue itself, or the subscription's topic."""
        return self.path if self.is_queue else self.topic


REQUESTS = Entity(REQUESTS_QUEUE)
CONNECT = Entity(f"{EVENTS_TOPIC}/{CONNECT_SUBSCRIPTION}")
OUTCOMES = Entity(f"{EVENTS_TOPIC}/{OUTCOMES_SUBSCRIPTION}")


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    body: bytes = field(repr=False)
    message_id: str
    correlation_id: str | None = None
    subject: str | None = None
    content_type: str | None = "application/json"
    application_properties: Mapping[str, PropertyValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    sequence_number: int
    message_id: str | None
    correlation_id: str | None
    subject: str | None
    content_type: str | None
    reason: str | None
    description: str | None
    delivery_count: int | None
    enqueued_time: datetime | None
    application_properties: Mapping[str, PropertyValue]
    body: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Delivered:
    """A message read from a subscription (outcome events). The body is a CloudEvent."""

    sequence_number: int
    message_id: str | None
    subject: str | None
    enqueued_time: datetime | None
    body: bytes = field(repr=False)


class Sender(Protocol):
    async def send(self, message: OutgoingMessage) -> None:
        """Send one message; raise if Service Bus did not accept it."""
        ...


class DeadLetterQueue(Protocol):
    async def peek(self, max_count: int) -> list[DeadLetter]:
        """Up to `max_count` dead letters from the head, without locking or removing them."""
        ...

    async def receive(self, max_count: int) -> list[DeadLetter]:
        """Up to `max_count` dead letters, each locked until completed or abandoned."""
        ...

    async def complete(self, letter: DeadLetter) -> None:
        """Remove a received dead letter for good."""
        ...

    async def abandon(self, letter: DeadLetter) -> None:
        """Release a received dead letter's lock; it stays in the dead-letter queue."""
        ...


class SubscriptionReader(Protocol):
    async def peek(self, max_count: int, *, from_sequence: int = 0) -> list[Delivered]:
        """Up to `max_count` messages from sequence number `from_sequence` on, left in place."""
        ...

    async def receive(self, max_count: int, *, wait_seconds: float) -> list[Delivered]:
        """Up to `max_count` messages, each locked until completed; waits at most
        `wait_seconds` for the first."""
        ...

    async def complete(self, message: Delivered) -> None:
        """Remove a received message for good."""
        ...


class OperatorBus(Protocol):
    """One Service Bus namespace as the operator commands use it."""

    def sender(self, entity: Entity) -> AbstractAsyncContextManager[Sender]:
        """A sender to `entity.send_to`."""
        ...

    def dead_letter_queue(self, entity: Entity) -> AbstractAsyncContextManager[DeadLetterQueue]:
        """The dead-letter sub-queue of `entity`."""
        ...

    def subscription(self, entity: Entity) -> AbstractAsyncContextManager[SubscriptionReader]:
        """A reader of the subscription `entity` itself (not its dead letters)."""
        ...
