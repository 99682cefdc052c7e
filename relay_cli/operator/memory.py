"""A real in-memory Service Bus for the operator commands: tests and offline rehearsals.

It keeps what was sent per target and a dead-letter queue per entity with peek-lock semantics:
`receive` locks, `complete` removes, `abandon` (or closing the queue) releases. `refuse` makes
sends of chosen MessageIds fail, as a broker outage would. `deliver` puts a message on a
subscription (an outcome event, as the function app publishes it) for `subscription` readers.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from relay_cli.operator.ports import (
    DeadLetter,
    Delivered,
    Entity,
    OutgoingMessage,
    PropertyValue,
)


class SendRefused(Exception):
    """The in-memory broker refused a message (see `InMemoryBus.refuse`)."""


class NotLocked(Exception):
    """Settling a dead letter this receiver does not hold a lock on."""


@dataclass
class InMemoryBus:
    sent: dict[str, list[OutgoingMessage]] = field(default_factory=dict)
    dead_letters: dict[str, list[DeadLetter]] = field(default_factory=dict)
    refuse: set[str] = field(default_factory=set)
    subscriptions: dict[str, list[Delivered]] = field(default_factory=dict)
    _sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _locked: set[tuple[str, int]] = field(default_factory=set)

    def dead_letter(
        self,
        entity: Entity,
        body: bytes,
        *,
        message_id: str,
        reason: str = "MaxDeliveryCountExceeded",
        description: str = "Message could not be consumed after 10 delivery attempts.",
        delivery_count: int = 10,
        enqueued_time: datetime | None = None,
        correlation_id: str | None = None,
        subject: str | None = None,
        properties: Mapping[str, PropertyValue] | None = None,
    ) -> DeadLetter:
        """Put a message on `entity`'s dead-letter queue, as Service Bus would."""
        letter = DeadLetter(
            sequence_number=next(self._sequence),
            message_id=message_id,
            correlation_id=correlation_id,
            subject=subject,
            content_type="application/json",
            reason=reason,
            description=description,
            delivery_count=delivery_count,
            enqueued_time=enqueued_time or datetime(2025, 1, 1, tzinfo=UTC),
            application_properties={
                **(properties or {}),
                "DeadLetterReason": reason,
                "DeadLetterErrorDescription": description,
            },
            body=body,
        )
        self.dead_letters.setdefault(entity.path, []).append(letter)
        return letter

    def deliver(
        self,
        entity: Entity,
        body: bytes,
        *,
        message_id: str,
        subject: str | None = None,
        enqueued_time: datetime | None = None,
    ) -> Delivered:
        """Put a message on subscription `entity` (what a topic sender's message becomes)."""
        message = Delivered(
            sequence_number=next(self._sequence),
            message_id=message_id,
            subject=subject,
            enqueued_time=enqueued_time or datetime(2025, 1, 1, tzinfo=UTC),
            body=body,
        )
        self.subscriptions.setdefault(entity.path, []).append(message)
        return message

    @asynccontextmanager
    async def subscription(self, entity: Entity) -> AsyncIterator[_SubscriptionReader]:
        reader = _SubscriptionReader(self, entity.path)
        try:
            yield reader
        finally:
            reader.held.clear()  # a closed receiver's locks lapse

    @asynccontextmanager
    async def sender(self, entity: Entity) -> AsyncIterator[_Sender]:
        yield _Sender(self, entity.send_to)

    @asynccontextmanager
    async def dead_letter_queue(self, entity: Entity) -> AsyncIterator[_DeadLetterQueue]:
        queue = _DeadLetterQueue(self, entity.path)
        try:
            yield queue
        finally:
            queue.release_all()  # a closed receiver's locks lapse


@dataclass
class _Sender:
    bus: InMemoryBus
    target: str

    async def send(self, message: OutgoingMessage) -> None:
        if message.message_id in self.bus.refuse:
            raise SendRefused(f"the broker refused {message.message_id}")
        self.bus.sent.setdefault(self.target, []).append(message)


@dataclass
class _DeadLetterQueue:
    bus: InMemoryBus
    path: str
    held: set[int] = field(default_factory=set)

    @property
    def _letters(self) -> list[DeadLetter]:
        return self.bus.dead_letters.setdefault(self.path, [])

    async def peek(self, max_count: int) -> list[DeadLetter]:
        return self._letters[:max_count]

    async def receive(self, max_count: int) -> list[DeadLetter]:
        free = [
            letter
            for letter in self._letters
            if (self.path, letter.sequence_number) not in self.bus._locked
        ][:max_count]
        for letter in free:
            self.bus._locked.add((self.path, letter.sequence_number))
            self.held.add(letter.sequence_number)
        return free

    async def complete(self, letter: DeadLetter) -> None:
        self._release(letter)
        self._letters.remove(letter)

    async def abandon(self, letter: DeadLetter) -> None:
        self._release(letter)

    def _release(self, letter: DeadLetter) -> None:
        if letter.sequence_number not in self.held:
            raise NotLocked(f"sequence number {letter.sequence_number} is not locked here")
        self.held.discard(letter.sequence_number)
        self.bus._locked.discard((self.path, letter.sequence_number))

    def release_all(self) -> None:
        for number in self.held:
            self.bus._locked.discard((self.path, number))
        self.held.clear()


@dataclass
class _SubscriptionReader:
    bus: InMemoryBus
    path: str
    held: set[int] = field(default_factory=set)

    @property
    def _messages(self) -> list[Delivered]:
        return self.bus.subscriptions.setdefault(self.path, [])

    async def peek(self, max_count: int, *, from_sequence: int = 0) -> list[Delivered]:
        return [m for m in self._messages if m.sequence_number >= from_sequence][:max_count]

    async def receive(self, max_count: int, *, wait_seconds: float) -> list[Delivered]:
        free = [m for m in self._messages if m.sequence_number not in self.held][:max_count]
        self.held.update(m.sequence_number for m in free)
        return free

    async def complete(self, message: Delivered) -> None:
        if message.sequence_number not in self.held:
            raise NotLocked(f"sequence number {message.sequence_number} is not locked here")
        self.held.discard(message.sequence_number)
        self._messages.remove(message)
