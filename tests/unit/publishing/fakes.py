"""A Service Bus client and senders that keep what they are sent (real SDK message objects).

They behave like the SDK where the publisher depends on it: a sender must be opened before it
sends and cannot send once closed; opening and sending yield to the event loop (the real ones
await a token, an AMQP attach, a disposition), so races show up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from azure.servicebus import ServiceBusMessage

Entity = tuple[str, str]


@dataclass
class FakeSender:
    entity: Entity
    log: list[str]
    gate: asyncio.Event | None = None  # a send waits for it when set
    sending: asyncio.Event = field(default_factory=asyncio.Event)  # set once a send began
    open_error: Exception | None = None
    opened: int = 0
    closed: int = 0
    sent: list[ServiceBusMessage] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    async def __aenter__(self) -> FakeSender:
        self.opened += 1
        for _ in range(3):
            await asyncio.sleep(0)
        if self.open_error is not None:
            raise self.open_error
        return self

    async def send_messages(self, message: ServiceBusMessage) -> None:
        if not self.opened or self.closed:
            raise RuntimeError(f"send on a sender that is not open: {self.entity}")
        self.sending.set()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for _ in range(3):
                await asyncio.sleep(0)
            if self.gate is not None:
                await self.gate.wait()
            self.sent.append(message)
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        self.closed += 1
        self.log.append(f"close sender {self.entity[0]}/{self.entity[1]}")


@dataclass
class FakeServiceBusClient:
    gates: dict[Entity, asyncio.Event] = field(default_factory=dict)
    open_errors: list[Exception] = field(default_factory=list)  # for the next senders opened
    senders: list[FakeSender] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    sending: asyncio.Event = field(default_factory=asyncio.Event)  # set once any send began
    closed: int = 0

    def get_topic_sender(self, topic_name: str) -> FakeSender:
        return self._sender(("topic", topic_name))

    def get_queue_sender(self, queue_name: str) -> FakeSender:
        return self._sender(("queue", queue_name))

    async def close(self) -> None:
        self.closed += 1
        self.log.append("close client")

    def _sender(self, entity: Entity) -> FakeSender:
        if self.closed:
            raise RuntimeError("client closed")
        error = self.open_errors.pop(0) if self.open_errors else None
        sender = FakeSender(
            entity, self.log, gate=self.gates.get(entity), open_error=error, sending=self.sending
        )
        self.senders.append(sender)
        return sender

    def senders_for(self, entity: Entity) -> list[FakeSender]:
        return [s for s in self.senders if s.entity == entity]

    def sent_to(self, entity: Entity) -> list[ServiceBusMessage]:
        return [m for s in self.senders_for(entity) for m in s.sent]


@dataclass
class FakeCredential:
    log: list[str]

    async def close(self) -> None:
        self.log.append("close credential")
