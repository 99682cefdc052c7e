"""In-memory publisher: a real implementation of the port for the local host, tests and benches.

It keeps what was sent and hands each message to an optional sink (the local host's broker).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from shared.contracts.events import OutboundEvent
from shared.publishing.port import ScheduledMessage

EventSink = Callable[[OutboundEvent], Awaitable[None]]
ScheduleSink = Callable[[ScheduledMessage], Awaitable[None]]


class InMemoryPublisher:
    def __init__(
        self, on_event: EventSink | None = None, on_schedule: ScheduleSink | None = None
    ) -> None:
        self.events: list[OutboundEvent] = []
        self.scheduled: list[ScheduledMessage] = []
        self._on_event = on_event
        self._on_schedule = on_schedule

    async def publish(self, event: OutboundEvent) -> None:
        if self._on_event is not None:
            await self._on_event(event)
        self.events.append(event)

    async def schedule(self, message: ScheduledMessage) -> None:
        if self._on_schedule is not None:
            await self._on_schedule(message)
        self.scheduled.append(message)

    def of_type(self, event_type: str) -> list[OutboundEvent]:
        return [e for e in self.events if e.type == event_type]
