"""An in-process broker with the Service Bus semantics our functions depend on.

* Queues and topics; a topic copies each message to every subscription whose filter matches
  (correlation filters: system `Subject` plus application properties, or match-all).
* Peek-lock: a received message is locked, then completed, abandoned (delivery count +1) or
  dead-lettered. A lock that is never settled (a crashed worker) expires after the lock duration
  and the message becomes available again with its delivery count +1.
* Max delivery count: an abandon or lock expiry at the limit moves the message to the entity's
  dead-letter queue with reason `MaxDeliveryCountExceeded`, like Service Bus.
* Scheduled messages stay invisible until their enqueue time.
* Duplicate detection on an entity drops a message whose MessageId it has already seen (for the
  whole life of the broker: Service Bus uses a window, 10 minutes by default in our Bicep).

Time is the broker's own clock (wall time plus an offset) so the host can skip ahead to the next
scheduled message or lock expiry instead of sleeping ("time warp").
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_DELIVERY_COUNT_EXCEEDED = "MaxDeliveryCountExceeded"


@dataclass(slots=True)
class BrokerMessage:
    body: bytes
    message_id: str
    correlation_id: str | None = None
    subject: str | None = None
    content_type: str | None = None
    application_properties: dict[str, Any] = field(default_factory=dict)
    scheduled_enqueue_time: datetime | None = None
    # Set by the broker:
    sequence_number: int = 0
    enqueued_time: datetime | None = None
    delivery_count: int = 0
    lock_token: str | None = None
    locked_until: float = 0.0
    dead_letter_reason: str | None = None
    dead_letter_description: str | None = None

    def copy(self) -> BrokerMessage:
        return BrokerMessage(
            body=self.body,
            message_id=self.message_id,
            correlation_id=self.correlation_id,
            subject=self.subject,
            content_type=self.content_type,
            application_properties=dict(self.application_properties),
            scheduled_enqueue_time=self.scheduled_enqueue_time,
        )


@dataclass(frozen=True, slots=True)
class CorrelationFilter:
    """Matches when every named field equals: `subject` and application properties."""

    subject: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)

    def matches(self, message: BrokerMessage) -> bool:
        if self.subject is not None and message.subject != self.subject:
            return False
        return all(
            str(message.application_properties.get(k)) == v for k, v in self.properties.items()
        )


class Entity:
    """A queue or a subscription: something to receive from."""

    def __init__(
        self, path: str, broker: InMemoryServiceBus, *, max_delivery_count: int, lock_seconds: float
    ) -> None:
        self.path = path
        self.max_delivery_count = max_delivery_count
        self.lock_seconds = lock_seconds
        self.dead_letters: list[BrokerMessage] = []
        self.completed = 0
        self._broker = broker
        self._ready: deque[BrokerMessage] = deque()
        self._scheduled: list[tuple[float, int, BrokerMessage]] = []
        self._locked: dict[str, BrokerMessage] = {}

    # --- what senders and the host call -------------------------------------------------------

    def enqueue(self, message: BrokerMessage) -> None:
        message.sequence_number = next(self._broker.sequence)
        message.enqueued_time = self._broker.utcnow()
        when = message.scheduled_enqueue_time
        if when is not None and when.timestamp() > self._broker.now():
            heapq.heappush(self._scheduled, (when.timestamp(), message.sequence_number, message))
        else:
            self._ready.append(message)
        self._broker.wake()

    def receive(self) -> BrokerMessage | None:
        """Lock and return the next available message, or None."""
        self._release_due()
        if not self._ready:
            return None
        message = self._ready.popleft()
        message.delivery_count += 1
        message.lock_token = uuid.uuid4().hex
        message.locked_until = self._broker.now() + self.lock_seconds
        self._locked[message.lock_token] = message
        return message

    def complete(self, message: BrokerMessage) -> None:
        self._take_lock(message)
        self.completed += 1

    def abandon(self, message: BrokerMessage) -> None:
        self._take_lock(message)
        self._return(message, "the message was abandoned too many times")

    def dead_letter(self, message: BrokerMessage, reason: str, description: str) -> None:
        self._take_lock(message)
        self._to_dead_letter(message, reason, description)

    # --- state ----------------------------------------------------------------------------------

    def active_count(self) -> int:
        self._release_due()
        return len(self._ready)

    def pending_count(self) -> int:
        """Messages that will become receivable: ready, scheduled or under a lock."""
        return len(self._ready) + len(self._scheduled) + len(self._locked)

    def next_due(self) -> float | None:
        """When the next scheduled message or lock expiry falls due (broker time)."""
        times = [t for t, _, _ in self._scheduled[:1]]
        times += [m.locked_until for m in self._locked.values()]
        return min(times) if times else None

    # --- internals ------------------------------------------------------------------------------

    def _take_lock(self, message: BrokerMessage) -> None:
        token = message.lock_token
        if token is None or self._locked.pop(token, None) is None:
            raise LockLostError(f"the lock on a message in {self.path} was lost")
        message.lock_token = None

    def _return(self, message: BrokerMessage, why: str) -> None:
        if message.delivery_count >= self.max_delivery_count:
            self._to_dead_letter(message, MAX_DELIVERY_COUNT_EXCEEDED, why)
        else:
            self._ready.append(message)
            self._broker.wake()

    def _to_dead_letter(self, message: BrokerMessage, reason: str, description: str) -> None:
        message.dead_letter_reason = reason
        message.dead_letter_description = description
        self.dead_letters.append(message)

    def _release_due(self) -> None:
        now = self._broker.now()
        while self._scheduled and self._scheduled[0][0] <= now:
            self._ready.append(heapq.heappop(self._scheduled)[2])
        for token in [t for t, m in self._locked.items() if m.locked_until <= now]:
            message = self._locked.pop(token)
            message.lock_token = None
            self._return(message, "the lock expired too many times")


class LockLostError(Exception):
    """Settling a message whose lock expired (Service Bus: MessageLockLostException)."""


class Topic:
    def __init__(self, name: str, *, duplicate_detection: bool) -> None:
        self.name = name
        self.duplicate_detection = duplicate_detection
        self.subscriptions: dict[str, tuple[CorrelationFilter | None, Entity]] = {}


class InMemoryServiceBus:
    def __init__(self) -> None:
        self.queues: dict[str, Entity] = {}
        self.topics: dict[str, Topic] = {}
        self.sequence = itertools.count(1)
        self.offset = 0.0
        self._seen: dict[str, set[str]] = {}
        self._dedupe: set[str] = set()
        self._wakeup = asyncio.Event()
        self.duplicates_dropped = 0

    # --- topology -------------------------------------------------------------------------------

    def add_queue(
        self,
        name: str,
        *,
        max_delivery_count: int = 10,
        lock_seconds: float = 60.0,
        duplicate_detection: bool = True,
    ) -> Entity:
        queue = Entity(name, self, max_delivery_count=max_delivery_count, lock_seconds=lock_seconds)
        self.queues[name] = queue
        if duplicate_detection:
            self._dedupe.add(name)
        return queue

    def add_topic(self, name: str, *, duplicate_detection: bool = True) -> Topic:
        topic = Topic(name, duplicate_detection=duplicate_detection)
        self.topics[name] = topic
        if duplicate_detection:
            self._dedupe.add(name)
        return topic

    def add_subscription(
        self,
        topic: str,
        name: str,
        rule: CorrelationFilter | None,
        *,
        max_delivery_count: int = 10,
        lock_seconds: float = 60.0,
    ) -> Entity:
        entity = Entity(
            f"{topic}/subscriptions/{name}",
            self,
            max_delivery_count=max_delivery_count,
            lock_seconds=lock_seconds,
        )
        self.topics[topic].subscriptions[name] = (rule, entity)
        return entity

    def entity(
        self, queue: str | None = None, *, topic: str | None = None, subscription: str | None = None
    ) -> Entity:
        if queue is not None:
            return self.queues[queue]
        if topic is None or subscription is None:
            raise KeyError("name a queue, or a topic and a subscription")
        return self.topics[topic].subscriptions[subscription][1]

    def entities(self) -> list[Entity]:
        subs = [e for t in self.topics.values() for _, e in t.subscriptions.values()]
        return [*self.queues.values(), *subs]

    # --- sending --------------------------------------------------------------------------------

    def send(self, entity: str, message: BrokerMessage) -> bool:
        """Send to a queue or topic. Returns False when duplicate detection dropped it."""
        if entity in self._dedupe:
            seen = self._seen.setdefault(entity, set())
            if message.message_id in seen:
                self.duplicates_dropped += 1
                return False
            seen.add(message.message_id)
        if entity in self.queues:
            self.queues[entity].enqueue(message)
            return True
        topic = self.topics[entity]
        for rule, subscription in topic.subscriptions.values():
            if rule is None or rule.matches(message):
                subscription.enqueue(message.copy())
        return True

    # --- time -----------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.offset

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    def advance_to(self, when: float) -> None:
        """Skip ahead (never back) so that `when` is now."""
        self.offset += max(0.0, when - self.now())
        self.wake()

    def wake(self) -> None:
        self._wakeup.set()

    async def wait(self, at_most: float) -> None:
        """Sleep until something is sent or settled, or `at_most` seconds pass."""
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), at_most)
