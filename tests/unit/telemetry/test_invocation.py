"""Every invocation, whatever its handler does: one span, one summary line, its metrics, and the
`Invocation` record exactly once (driven through `shared.invocation` with stub handlers)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from azure.functions.servicebus import ServiceBusMessage
from opentelemetry.trace import SpanKind, StatusCode

from local_host.telemetry import Capture
from shared import bootstrap, names
from shared.contracts.events import (
    ReferralCreatedData,
    ReferralCreatedEvent,
    ReferralFailedData,
    ReferralFailedEvent,
    to_outbound,
)
from shared.handlers.common import DeadLetterRequested, HandlerDeps, Outcome, RetryLater
from shared.invocation import _invoke
from shared.ledger.memory import InMemoryLedger
from shared.publishing.memory import InMemoryPublisher
from shared.telemetry import metrics, setup
from shared.telemetry.invocations import partner_response
from shared.telemetry.logs import hash_key
from shared.telemetry.outcomes import Invocation, subscribe

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
CONTACT_BODY = {
    "externalReferenceId": "crm-7",
    "customerProfile": {"team": [{"firstName": "Gwendolyn", "lastName": "Okafor"}]},
}


@pytest.fixture
def publisher() -> Iterator[InMemoryPublisher]:
    sent = InMemoryPublisher()
    bootstrap.configure(
        HandlerDeps(api=cast(Any, object()), ledger=InMemoryLedger(), publisher=sent)
    )
    yield sent
    bootstrap.configure(None)


@pytest.fixture
def recorded() -> Iterator[list[Invocation]]:
    seen: list[Invocation] = []
    unsubscribe = subscribe(seen.append)
    yield seen
    unsubscribe()


def message(body: object = CONTACT_BODY, **properties: Any) -> ServiceBusMessage:
    props = {names.PROP_TRACEPARENT: TRACEPARENT, **properties}
    return ServiceBusMessage(
        body=json.dumps(body).encode(),
        message_id="m-1",
        correlation_id="c-1",
        delivery_count=1,
        enqueued_time_utc=datetime.now(UTC) - timedelta(seconds=2),
        application_properties=props,
        user_properties=props,
    )


def summary(captured: Capture) -> dict[str, Any]:
    (line,) = [r for r in captured.logs() if r.log_record.event_name is None and _ours(r)]
    attributes = dict(line.log_record.attributes or {})
    attributes["_body"] = line.log_record.body
    attributes["_level"] = line.log_record.severity_text
    return attributes


def _ours(record: Any) -> bool:
    return "function" in (record.log_record.attributes or {})


def invocation_span(captured: Capture) -> Any:
    (span,) = [s for s in captured.spans() if s.kind is SpanKind.CONSUMER]
    return span


async def test_a_created_referral(
    captured: Capture, publisher: InMemoryPublisher, recorded: list[Invocation]
) -> None:
    async def handler(msg: Any, deps: HandlerDeps) -> Outcome:
        partner_response("create", 200, "req-9")
        await deps.publisher.publish(to_outbound(_created_event(), correlation_id="c-1"))
        return Outcome(kind="created", key="crm-7", referral_id="r-1", engagement_id="e-1")

    await _invoke("create_referral", handler, message())

    line = summary(captured)
    span = invocation_span(captured)
    trace_id = f"{span.context.trace_id:032x}"
    assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert line["_body"] == "create_referral created"
    assert line["_level"] == "INFO"
    assert line["function"] == "create_referral"
    assert line["outcome"] == "created"
    assert line["trace_id"] == trace_id
    assert line["correlation_id"] == hash_key("c-1")  # it may be the key: hashed like one
    assert line["idempotency_key"] == hash_key("crm-7")
    assert (line["referral_id"], line["engagement_id"], line["attempt"]) == ("r-1", "e-1", 1)
    assert line["request_id"] == "req-9"
    assert line["latency_ms"] >= 2000
    assert line[names.TELEMETRY_OUTCOME] == names.REFERRAL_CREATED  # what was published
    assert span.status.status_code is StatusCode.OK
    assert span.attributes["relay.referral_id"] == "r-1"
    assert captured.metric(metrics.REFERRALS_CREATED) == 1
    assert captured.metric(metrics.REFERRAL_LATENCY, function="create_referral") == 1
    (invocation,) = recorded
    assert invocation.trace_id == trace_id
    # The event went out with the trace, through the original publisher.
    (event,) = publisher.events
    assert event.application_properties[names.PROP_TRACEPARENT].split("-")[1] == trace_id


def _created_event() -> ReferralCreatedEvent:
    return ReferralCreatedEvent(
        id="referral-created:r-1",
        source="/test",
        time=datetime.now(UTC),
        subject="crm-7",
        data=ReferralCreatedData(
            idempotencyKey="crm-7",
            referralId="r-1",
            engagementId="e-1",
            referralType="Independent",
            messageId="m-1",
        ),
    )


def _failed_event(code: str) -> ReferralFailedEvent:
    return ReferralFailedEvent(
        id="referral-failed:k/m-1",
        source="/test",
        time=datetime.now(UTC),
        subject="k",
        data=ReferralFailedData(
            idempotencyKey="k", messageId="m-1", stage="create", attempts=5, errorCode=code
        ),
    )


async def test_giving_up_publishes_referral_failed_and_counts_it(
    captured: Capture, publisher: InMemoryPublisher, recorded: list[Invocation]
) -> None:
    async def handler(msg: Any, deps: HandlerDeps) -> Outcome:
        await deps.publisher.publish(to_outbound(_failed_event("throttled"), correlation_id="c"))
        outcome = Outcome(kind="failed", key="k", error_code="throttled")
        raise DeadLetterRequested("gave up", outcome)

    with pytest.raises(DeadLetterRequested):
        await _invoke("create_referral", handler, message())
    line = summary(captured)
    assert line["_level"] == "ERROR"
    assert line[names.TELEMETRY_OUTCOME] == names.REFERRAL_FAILED
    assert line["settled"] == "abandon"
    assert invocation_span(captured).status.status_code is StatusCode.ERROR
    assert captured.metric(metrics.REFERRALS_FAILED, error_code="throttled") == 1
    assert len(recorded) == 1


async def test_a_repeat_after_giving_up_is_not_counted_as_another_failure(
    captured: Capture, publisher: InMemoryPublisher
) -> None:
    async def handler(msg: Any, deps: HandlerDeps) -> Outcome:
        raise DeadLetterRequested("already gave up", Outcome(kind="failed", key="k"))

    with pytest.raises(DeadLetterRequested):
        await _invoke("create_referral", handler, message())
    assert names.TELEMETRY_OUTCOME not in summary(captured)
    assert captured.metric(metrics.REFERRALS_FAILED) == 0


async def test_a_rejection_and_a_reschedule_are_warnings(
    captured: Capture, publisher: InMemoryPublisher
) -> None:
    async def rejected(msg: Any, deps: HandlerDeps) -> Outcome:
        return Outcome(kind="rejected", key="k", error_code="invalid_country")

    async def later(msg: Any, deps: HandlerDeps) -> Outcome:
        raise RetryLater("throttled", Outcome(kind="rescheduled", key="k", error_code="throttled"))

    await _invoke("create_referral", rejected, message())
    with pytest.raises(RetryLater):
        await _invoke("connect_referral", later, message())
    first, second = sorted(
        (r for r in captured.logs() if _ours(r)), key=lambda r: r.log_record.timestamp or 0
    )
    assert first.log_record.severity_text == "WARN"
    assert second.log_record.severity_text == "WARN"
    assert (first.log_record.attributes or {})["error_code"] == "invalid_country"
    assert (second.log_record.attributes or {})["settled"] == "abandon"
    assert captured.metric(metrics.REFERRALS_REJECTED, error_code="invalid_country") == 1
    assert captured.metric(metrics.INVOCATIONS, outcome="rescheduled", settled="abandon") == 1


async def test_an_unexpected_error_is_recorded_and_still_propagates(
    captured: Capture, publisher: InMemoryPublisher, recorded: list[Invocation]
) -> None:
    async def broken(msg: Any, deps: HandlerDeps) -> Outcome:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        await _invoke("create_referral", broken, message())
    line = summary(captured)
    span = invocation_span(captured)
    assert line["_level"] == "ERROR"
    assert line["outcome"] == "error"
    assert line["error_type"] == "KeyError"
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    assert recorded[0].error == "KeyError"


async def test_contacts_of_the_inbound_body_are_masked_everywhere(
    captured: Capture, publisher: InMemoryPublisher
) -> None:
    async def chatty(msg: Any, deps: HandlerDeps) -> Outcome:
        logging.getLogger("referral_relay.test").warning("oops, Gwendolyn Okafor leaked")
        return Outcome(kind="rejected", key="k", error_code="x")

    await _invoke("create_referral", chatty, message())
    (leak,) = [r for r in captured.logs() if "oops" in str(r.log_record.body)]
    assert leak.log_record.body == "oops, [name] leaked"


async def test_without_telemetry_the_handler_runs_and_is_recorded_once(
    publisher: InMemoryPublisher, recorded: list[Invocation], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(setup, "_mode", "off")
    handed: list[HandlerDeps] = []

    async def handler(msg: Any, deps: HandlerDeps) -> Outcome:
        handed.append(deps)
        return Outcome(kind="created", key="k")

    await _invoke("create_referral", handler, message())
    (invocation,) = recorded
    assert invocation.trace_id is None
    assert handed[0].publisher is publisher  # not wrapped: nothing to trace
