"""A real in-memory Service Bus for the operator commands: tests and offline rehearsals.

It keeps what was sent per target and a dead-letter queue per entity with peek-lock semantics:
`receive` locks, `complete` removes, `abandon` (or closing the queue) releases. `refuse` makes
sends of chosen MessageIds fail, as a broker outage would.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from relay_cli.operator.ports import DeadLetter, Entity, OutgoingMessage, PropertyValue


class SendRefused(Exception):
    """The in-memory broker refused a message (see `InMemoryBus.refuse`)."""


class NotLocked(Exception):
    """Settling a dead letter this receiver does not hold a lock on."""


@dataclass
class InMemoryBus:
    sent: dict[str, list[OutgoingMessage]] = field(default_factory=dict)
    dead_letters: dict[str, list[DeadLetter]] = field(default_factory=dict)
    refuse: set[str] = field(default_factory=set)
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
