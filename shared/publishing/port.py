"""The publisher port: outcome events to the topic, and scheduled copies back to the queue."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.contracts.events import OutboundEvent


@dataclass(frozen=True, slots=True)
class ScheduledMessage:
    """A copy of an inbound message to enqueue later (the reschedule path of design §4)."""

    queue: str
    body: bytes
    message_id: str
    correlation_id: str
    application_properties: dict[str, Any] = field(default_factory=dict)
    enqueue_at: datetime | None = None


class Publisher(Protocol):
    async def publish(self, event: OutboundEvent) -> None:
        """Send one event to the `referral-events` topic. MessageId = event id, so a repeat is
        dropped by the topic's duplicate detection."""
        ...

    async def schedule(self, message: ScheduledMessage) -> None:
        """Send a copy to a queue with a scheduled enqueue time."""
        ...
