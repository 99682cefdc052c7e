"""Fakes for the exactly-once core's tests: one timeline, a Partner API that keeps referrals in
memory and can make the faults real services make, and a broker loop that redelivers.

`Timeline` is the only time there is: the handler's monotonic clock and sleeps, the ledger's
clock (an epoch far from the handler's wall clock, which may be skewed on purpose), the fake
API's late commits and lagging lists all read it, and it moves only when something sleeps or a
test advances it.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.contracts.errors import FieldError
from shared.contracts.events import OutboundEvent
from shared.contracts.referral import MICROSOFT_TARGET, Referral
from shared.handlers.common import (
    Clock,
    DeadLetterRequested,
    HandlerConfig,
    HandlerDeps,
    Outcome,
    RetryLater,
)
from shared.ledger.memory import InMemoryLedger
from shared.partner_api.errors import (
    InvalidRequest,
    NotFound,
    RequestTimedOut,
    ServiceUnavailable,
    Throttled,
)
from shared.publishing.memory import InMemoryPublisher
from shared.publishing.port import ScheduledMessage

LEDGER_EPOCH = 1_700_000_000.0  # the ledger's clock: far from anything a worker's reads


@dataclass
class Timeline:
    t: float = 0.0

    def advance(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)


class TimelineClock(Clock):
    """The handler's clocks on the timeline; `skew` moves its wall clock only."""

    def __init__(self, timeline: Timeline, skew: float = 0.0) -> None:
        self.timeline = timeline
        self.skew = skew
        self.slept: list[float] = []

    def time(self) -> float:
        return LEDGER_EPOCH + self.timeline.t + self.skew

    def monotonic(self) -> float:
        return self.timeline.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.timeline.advance(seconds)
        await asyncio.sleep(0)


# ---- the Partner API ---------------------------------------------------------------------------


@dataclass
class Stored:
    referral: dict[str, Any]
    committed_at: float  # the referral exists from then on
    listed_at: float  # and appears in filtered lists from then on


CreateFault = Callable[["FakePartnerApi", Mapping[str, Any]], Awaitable[Referral | None]]


@dataclass
class FakePartnerApi:
    """The Partner API port over an in-memory store.

    Faults: `create_faults` (consumed one per POST; each may store the referral and raise),
    `list_lag` (seconds before a new referral shows in filtered lists), `list_mode`
    (`"exact"`, `"casefold"`: `eq` compares case-insensitively, `"ignore"`: the filter is
    ignored), `list_refusals` (that many lists answer 400, refusing the filter), `get_faults`
    (raised one per GET),
    `shape` (extra fields a GET returns, as the real service writes them)."""

    timeline: Timeline
    store: list[Stored] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    create_faults: list[CreateFault] = field(default_factory=list)
    list_lag: float = 0.0
    list_mode: str = "exact"
    list_refusals: int = 0
    get_faults: list[BaseException] = field(default_factory=list)
    shape: dict[str, Any] = field(default_factory=dict)
    post_deadlines: list[float] = field(default_factory=list)
    on_create: Callable[[], Awaitable[None]] | None = None  # runs while a POST is in flight

    # -- the port --

    async def create_referral(
        self,
        body: Mapping[str, Any],
        *,
        correlation_id: str,
        deadline: float,
        retry_ambiguous: bool,
    ) -> Referral:
        self.calls.append("create")
        self.post_deadlines.append(deadline)
        if self.on_create is not None:
            await self.on_create()
        if self.create_faults:
            fault = self.create_faults.pop(0)
            answer = await fault(self, body)
            if answer is not None:
                return answer
        return Referral.model_validate(self.commit(body))

    async def get_referral(
        self, referral_id: str, *, correlation_id: str, deadline: float
    ) -> Referral:
        self.calls.append("get")
        if self.get_faults:
            raise self.get_faults.pop(0)
        for stored in self._visible():
            if stored.referral["id"] == referral_id:
                return Referral.model_validate({**stored.referral, **self.shape})
        raise NotFound("get", status=404)

    async def list_referrals(
        self,
        *,
        filter: str | None,
        top: int | None = None,
        orderby: str | None = None,
        correlation_id: str,
        deadline: float,
    ) -> AsyncIterator[Referral]:
        self.calls.append("list")
        if self.list_refusals > 0:
            self.list_refusals -= 1
            raise InvalidRequest(
                "list", errors=[FieldError(path="", code="badFilter", message="no")]
            )
        name, value = _parse_eq(filter or "")
        for stored in self._visible():
            if stored.listed_at > self.timeline.t:
                continue
            if self._matches(stored.referral.get(name), value):
                yield Referral.model_validate(stored.referral)

    async def patch_referral(self, *args: Any, **kwargs: Any) -> Referral | None:
        raise NotImplementedError  # the handlers under test never patch

    # -- helpers for tests --

    def commit(self, body: Mapping[str, Any], *, delay: float = 0.0) -> dict[str, Any]:
        referral = {
            **body,
            "id": str(uuid.uuid4()),
            "engagementId": body.get("engagementId") or str(uuid.uuid4()),
            "status": body.get("status") or "New",
            "type": body.get("type") or "Independent",
        }
        at = self.timeline.t + delay
        self.store.append(Stored(referral, committed_at=at, listed_at=at + self.list_lag))
        return referral

    def referrals(self) -> list[dict[str, Any]]:
        """Every referral that exists by now."""
        return [s.referral for s in self._visible()]

    def count(self, call: str) -> int:
        return self.calls.count(call)

    def _visible(self) -> list[Stored]:
        return [s for s in self.store if s.committed_at <= self.timeline.t]

    def _matches(self, stored: Any, value: str) -> bool:
        if self.list_mode == "ignore":
            return True
        if not isinstance(stored, str):
            return False
        if self.list_mode == "casefold":
            return stored.casefold() == value.casefold()
        return stored == value


def _parse_eq(expression: str) -> tuple[str, str]:
    match = re.fullmatch(r"(\w+) eq '(.*)'", expression)
    assert match, f"the fake API understands `name eq 'value'` only, got {expression!r}"
    return match[1], match[2].replace("''", "'")


# Create faults: each is one POST's fate.


def lost_answer(*, commit_after: float = 0.0) -> CreateFault:
    """The service stores the referral (at once, or `commit_after` seconds later: a late
    commit) but the client gets no answer: a read timeout, ambiguous."""

    async def fault(api: FakePartnerApi, body: Mapping[str, Any]) -> Referral | None:
        api.commit(body, delay=commit_after)
        raise RequestTimedOut("create", ambiguous=True)

    return fault


def gateway_timeout(*, commit_after: float) -> CreateFault:
    """A 504 answered at once while the service goes on and commits later."""

    async def fault(api: FakePartnerApi, body: Mapping[str, Any]) -> Referral | None:
        api.commit(body, delay=commit_after)
        raise ServiceUnavailable("create", status=504, ambiguous=True)

    return fault


def unavailable() -> CreateFault:
    """A 503 that created nothing (the client cannot know: ambiguous)."""

    async def fault(api: FakePartnerApi, body: Mapping[str, Any]) -> Referral | None:
        raise ServiceUnavailable("create", status=503, ambiguous=True)

    return fault


def throttled() -> CreateFault:
    """A 429: refused before anything happened (not ambiguous)."""

    async def fault(api: FakePartnerApi, body: Mapping[str, Any]) -> Referral | None:
        raise Throttled("create", status=429, retry_after=1.0)

    return fault


def refused() -> CreateFault:
    async def fault(api: FakePartnerApi, body: Mapping[str, Any]) -> Referral | None:
        raise InvalidRequest(
            "create",
            errors=[FieldError(path="/engagementId", code="invalidEngagement", message="no")],
        )

    return fault


# ---- messages and the broker loop ------------------------------------------------------------


@dataclass
class Message:
    """What a Service Bus trigger hands the handler (`InboundMessage`)."""

    body: bytes
    message_id: str | None = "m-1"
    correlation_id: str | None = "c-1"
    application_properties: dict[str, Any] | None = None
    delivery_count: int | None = 1
    enqueued_time_utc: datetime | None = None

    def get_body(self) -> bytes:
        return self.body


def message(body: Mapping[str, Any], **kwargs: Any) -> Message:
    return Message(json.dumps(body).encode(), **kwargs)


Handler = Callable[[Message, HandlerDeps], Awaitable[Outcome]]


@dataclass
class Delivery:
    message: Message
    outcome: Outcome | None
    error: BaseException | None


@dataclass
class World:
    """Handler dependencies on one timeline, and a broker loop around the handlers."""

    timeline: Timeline = field(default_factory=Timeline)
    config: HandlerConfig = field(default_factory=HandlerConfig)
    skew: float = 0.0
    max_delivery_count: int = 10
    api: FakePartnerApi = field(init=False)
    ledger: InMemoryLedger = field(init=False)
    publisher: InMemoryPublisher = field(init=False)
    clock: TimelineClock = field(init=False)
    deliveries: list[Delivery] = field(default_factory=list)
    dead_letters: list[Message] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.api = FakePartnerApi(self.timeline)
        self.ledger = InMemoryLedger(clock=lambda: LEDGER_EPOCH + self.timeline.t)
        self.publisher = InMemoryPublisher()
        self.clock = TimelineClock(self.timeline, self.skew)

    def deps(self, *, skew: float | None = None, **changes: Any) -> HandlerDeps:
        clock = self.clock if skew is None else TimelineClock(self.timeline, skew)
        deps = HandlerDeps(
            api=self.api,
            ledger=self.ledger,
            publisher=self.publisher,
            config=self.config,
            clock=clock,
        )
        for name, value in changes.items():
            setattr(deps, name, value)
        return deps

    async def deliver(
        self, handler: Handler, msg: Message, deps: HandlerDeps | None = None
    ) -> None:
        """Run one message to the end, as Service Bus would: a scheduled copy is delivered at
        its enqueue time (on the ledger's clock, which stands for Azure's), an abandoned message
        again at once with its delivery count up, until it completes or dead-letters."""
        deps = deps or self.deps()
        pending: list[Message] = [msg]
        while pending:
            current = pending.pop(0)
            before = len(self.publisher.scheduled)
            try:
                outcome = await handler(current, deps)
            except (RetryLater, DeadLetterRequested) as exc:
                self.deliveries.append(Delivery(current, exc.outcome, exc))
                count = (current.delivery_count or 1) + 1
                if count > self.max_delivery_count:
                    self.dead_letters.append(current)
                    continue
                pending.append(_again(current, delivery_count=count))
                continue
            self.deliveries.append(Delivery(current, outcome, None))
            for copy in self.publisher.scheduled[before:]:
                pending.append(self._arrival(copy))

    async def handle_once(
        self, handler: Handler, msg: Message, *, skew: float | None = None
    ) -> Outcome | None:
        """One invocation, nothing redelivered: what it did is in `deliveries`."""
        try:
            outcome = await handler(msg, self.deps(skew=skew))
        except (RetryLater, DeadLetterRequested) as exc:
            self.deliveries.append(Delivery(msg, exc.outcome, exc))
            return exc.outcome
        self.deliveries.append(Delivery(msg, outcome, None))
        return outcome

    def _arrival(self, copy: ScheduledMessage) -> Message:
        if copy.enqueue_at is not None:
            due = copy.enqueue_at.timestamp() - LEDGER_EPOCH
            self.timeline.advance(due - self.timeline.t)
        return Message(
            body=copy.body,
            message_id=copy.message_id,
            correlation_id=copy.correlation_id,
            application_properties=dict(copy.application_properties),
            delivery_count=1,
            enqueued_time_utc=copy.enqueue_at or datetime.now(UTC),
        )

    # -- what came out --

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Events as the topic passes them on: a repeated id is dropped (duplicate detection)."""
        unique: dict[str, OutboundEvent] = {}
        for event in self.publisher.events:
            if event_type is None or event.type == event_type:
                unique.setdefault(event.event_id, event)
        return [json.loads(e.body) for e in unique.values()]

    def final_outcomes(self) -> list[str]:
        """The event types a consumer sees for the input(s), in order (no connect skips)."""
        return [e["type"] for e in self.events()]

    def kinds(self) -> list[str]:
        return [d.outcome.kind if d.outcome else "crash" for d in self.deliveries]


def _again(msg: Message, *, delivery_count: int) -> Message:
    return Message(
        body=msg.body,
        message_id=msg.message_id,
        correlation_id=msg.correlation_id,
        application_properties=msg.application_properties,
        delivery_count=delivery_count,
        enqueued_time_utc=msg.enqueued_time_utc,
    )


def microsoft_referrals(referrals: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in referrals if MICROSOFT_TARGET in (r.get("target") or [])]
