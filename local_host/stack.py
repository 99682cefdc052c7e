"""Everything `function_app` needs to run on one machine: the in-process broker, the local host,
an in-memory ledger and publisher, and whatever Partner API the caller brings (the sandbox, or
the live service). Used by `referral-relay run`, the functional tests and the benchmarks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from local_host.broker import InMemoryServiceBus
from local_host.host import LocalHost
from local_host.report import InputResult, InvocationLog
from local_host.topology import broker_publisher, build_broker, inbound
from shared import bootstrap, names
from shared.handlers.common import Checkpoint, Clock, HandlerConfig, HandlerDeps
from shared.ledger.marks import InMemoryMarks, Marks
from shared.ledger.memory import InMemoryLedger
from shared.ledger.port import Ledger
from shared.partner_api.port import PartnerApi
from shared.publishing.memory import InMemoryPublisher
from shared.telemetry import outcomes


class BrokerClock(Clock):
    """Wall time as the broker sees it, so ledger expiries and scheduled enqueue times move with
    its time warp; deadlines stay on the real monotonic clock the HTTP client uses."""

    def __init__(self, broker: InMemoryServiceBus) -> None:
        self._broker = broker

    def time(self) -> float:
        return self._broker.now()


@dataclass
class LocalStack:
    broker: InMemoryServiceBus
    host: LocalHost
    ledger: Ledger
    publisher: InMemoryPublisher
    deps: HandlerDeps
    log: InvocationLog

    def publish(
        self,
        body: bytes,
        *,
        message_id: str | None = None,
        correlation_id: str | None = None,
        properties: dict[str, Any] | None = None,
        queue: str = names.REQUESTS_QUEUE,
    ) -> str:
        """Put one message on `referral-requests` (or `queue`, e.g. `referral-updates`), as a
        publisher would. Returns its MessageId."""
        message_id = message_id or str(uuid.uuid4())
        self.broker.send(
            queue,
            inbound(
                body,
                message_id=message_id,
                correlation_id=correlation_id or str(uuid.uuid4()),
                properties=properties,
            ),
        )
        return message_id

    async def drain(self, limit_seconds: float = 300.0) -> bool:
        return await self.host.run_until_idle(limit_seconds)

    def result(self, source: str, message_id: str) -> InputResult:
        return self.log.result_for(source, message_id)

    def dead_letters(self) -> int:
        return sum(len(e.dead_letters) for e in self.broker.entities())


@asynccontextmanager
async def local_stack(
    api: PartnerApi,
    *,
    config: HandlerConfig | None = None,
    checkpoint: Checkpoint | None = None,
    ledger: Ledger | None = None,
    marks: Marks | None = None,
    concurrency: int | None = None,
    max_delivery_count: int = 10,
    time_warp: bool = True,
) -> AsyncIterator[LocalStack]:
    import function_app  # the real app with its real blueprints and binding metadata

    broker = build_broker(max_delivery_count=max_delivery_count)
    publisher = broker_publisher(broker)
    ledger = ledger or InMemoryLedger(clock=broker.now)  # claims follow the time warp
    deps = HandlerDeps(
        api=api,
        ledger=ledger,
        publisher=publisher,
        marks=marks or InMemoryMarks(),
        config=config or HandlerConfig(),
        clock=BrokerClock(broker),
    )
    if checkpoint is not None:
        deps.checkpoint = checkpoint
    log = InvocationLog()
    unsubscribe = outcomes.subscribe(log.add)
    bootstrap.configure(deps)
    try:
        host = LocalHost(function_app.app, broker, concurrency=concurrency, time_warp=time_warp)
        yield LocalStack(broker, host, ledger, publisher, deps, log)
    finally:
        bootstrap.configure(None)
        unsubscribe()
