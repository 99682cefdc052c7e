"""Trace context: continued from the message, carried by what we publish, spans for API calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from opentelemetry.trace import SpanKind

from local_host.telemetry import Capture
from shared import names
from shared.contracts.envelope import MessageMeta
from shared.contracts.events import (
    ReferralCreatedData,
    ReferralCreatedEvent,
    to_outbound,
)
from shared.publishing.memory import InMemoryPublisher
from shared.publishing.port import ScheduledMessage
from shared.telemetry.logs import hash_key
from shared.telemetry.tracing import (
    TracedPublisher,
    instrument_http_client,
    invocation_span,
    message_context,
    tracer,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{PARENT}-01"


def meta(traceparent: str | None = TRACEPARENT) -> MessageMeta:
    return MessageMeta(
        message_id="m-1",
        correlation_id="c-1",
        source=None,
        delivery_count=2,
        attempt=0,
        original_message_id="m-1",
        enqueued_time=datetime.now(UTC),
        traceparent=traceparent,
    )


def _ids(context: object) -> tuple[str, str]:
    from opentelemetry import trace

    span_context = trace.get_current_span(context).get_span_context()  # type: ignore[arg-type]
    return f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}"


@pytest.mark.parametrize(
    "properties",
    [
        {names.PROP_TRACEPARENT: TRACEPARENT},
        {names.PROP_DIAGNOSTIC_ID: TRACEPARENT},  # what the Azure SDKs write
        {names.PROP_TRACEPARENT: TRACEPARENT.encode()},  # AMQP may hand us bytes
        {names.PROP_TRACEPARENT: TRACEPARENT, names.PROP_DIAGNOSTIC_ID: "|legacy.1."},
    ],
)
def test_a_message_context_comes_from_traceparent_or_diagnostic_id(
    properties: dict[str, object],
) -> None:
    context = message_context(properties)
    assert context is not None
    assert _ids(context) == (TRACE, PARENT)


@pytest.mark.parametrize(
    "properties",
    [None, {}, {"source": "crm"}, {names.PROP_DIAGNOSTIC_ID: "|abc.1."}, {"traceparent": "00-0"}],
)
def test_no_usable_context_gives_none(properties: dict[str, object] | None) -> None:
    assert message_context(properties) is None


def test_the_invocation_span_continues_the_message_trace(captured: Capture) -> None:
    with invocation_span("create_referral", meta(), {names.PROP_TRACEPARENT: TRACEPARENT}):
        pass
    (span,) = captured.spans()
    assert span.name == "create_referral"
    assert span.kind is SpanKind.CONSUMER
    assert f"{span.context.trace_id:032x}" == TRACE
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == PARENT
    assert span.attributes is not None
    assert span.attributes["messaging.destination.name"] == names.REQUESTS_QUEUE
    # Either may be the idempotency key: hashed as in logs (a UUID would stay as it is).
    assert span.attributes["messaging.message.id"] == hash_key("m-1")
    assert span.attributes["messaging.message.conversation_id"] == hash_key("c-1")
    assert span.attributes["messaging.servicebus.message.delivery_count"] == 2


def test_it_nests_under_a_current_span_of_the_same_trace_only(captured: Capture) -> None:
    from opentelemetry import context as otel_context
    from opentelemetry import trace

    carried = message_context({names.PROP_TRACEPARENT: TRACEPARENT})
    assert carried is not None
    token = otel_context.attach(carried)
    try:  # as if the worker had attached the host's span of this very trace
        with (
            tracer().start_as_current_span("host") as host,
            invocation_span("create_referral", meta(), {"traceparent": TRACEPARENT}),
        ):
            pass
    finally:
        otel_context.detach(token)
    with (
        tracer().start_as_current_span("unrelated"),
        invocation_span("connect_referral", meta(), {"traceparent": TRACEPARENT}),
    ):
        pass
    spans = {span.name: span for span in captured.spans()}
    nested, other = spans["create_referral"], spans["connect_referral"]
    assert nested.parent is not None
    assert nested.parent.span_id == host.get_span_context().span_id
    assert other.parent is not None
    assert f"{other.parent.span_id:016x}" == PARENT
    assert f"{other.context.trace_id:032x}" == TRACE
    assert other.attributes is not None
    assert other.attributes["messaging.destination.subscription.name"] == "connect-referral"
    assert trace.get_current_span().get_span_context().is_valid is False


def _created_event() -> ReferralCreatedEvent:
    return ReferralCreatedEvent(
        id="referral-created:r-1",
        source="/test",
        time=datetime.now(UTC),
        subject="k",
        data=ReferralCreatedData(
            idempotencyKey="k",
            referralId="r-1",
            engagementId="e-1",
            referralType="Shared",
            messageId="m-1",
        ),
    )


async def test_published_events_carry_the_producer_span(captured: Capture) -> None:
    inner = InMemoryPublisher()
    heard: list[str] = []
    publisher = TracedPublisher(inner, lambda event: heard.append(event.type))
    with tracer().start_as_current_span("create_referral") as invocation:
        event = to_outbound(
            _created_event(), correlation_id="c-1", referral_type="Shared", traceparent=TRACEPARENT
        )
        await publisher.publish(event)
    (sent,) = inner.events
    producer = next(s for s in captured.spans() if s.kind is SpanKind.PRODUCER)
    expected = f"00-{producer.context.trace_id:032x}-{producer.context.span_id:016x}"
    assert sent.application_properties[names.PROP_TRACEPARENT].startswith(expected + "-")
    assert (
        sent.application_properties[names.PROP_DIAGNOSTIC_ID]
        == (sent.application_properties[names.PROP_TRACEPARENT])
    )
    assert sent.application_properties[names.PROP_REFERRAL_TYPE] == "Shared"  # the rest stays
    assert producer.parent is not None
    assert producer.parent.span_id == invocation.get_span_context().span_id
    assert producer.name == f"publish {names.EVENTS_TOPIC}"
    assert heard == [names.REFERRAL_CREATED]
    # A copy was sent: the event to_outbound built carries the invocation's span.
    assert not event.application_properties[names.PROP_TRACEPARENT].startswith(expected)


async def test_rescheduled_copies_carry_the_trace_too(captured: Capture) -> None:
    inner = InMemoryPublisher()
    publisher = TracedPublisher(inner, lambda event: None)
    with tracer().start_as_current_span("create_referral"):
        await publisher.schedule(
            ScheduledMessage(
                queue=names.REQUESTS_QUEUE,
                body=b"{}",
                message_id="m-1#retry1",
                correlation_id="c-1",
                application_properties={names.PROP_TRACEPARENT: TRACEPARENT, "relayAttempt": 1},
            )
        )
    (copy,) = inner.scheduled
    producer = next(s for s in captured.spans() if s.kind is SpanKind.PRODUCER)
    assert copy.application_properties[names.PROP_TRACEPARENT].split("-")[1:3] == [
        f"{producer.context.trace_id:032x}",
        f"{producer.context.span_id:016x}",
    ]
    assert copy.application_properties["relayAttempt"] == 1


def test_to_outbound_carries_the_inbound_context_the_publisher_replaces_it(
    captured: Capture,
) -> None:
    # Contracts import nothing from telemetry: the event keeps the inbound message's context,
    # and TracedPublisher writes its PRODUCER span's (test_published_events_carry_...).
    with tracer().start_as_current_span("create_referral"):
        inside = to_outbound(_created_event(), correlation_id="c", traceparent=TRACEPARENT)
    assert inside.application_properties[names.PROP_TRACEPARENT] == TRACEPARENT
    assert inside.application_properties[names.PROP_DIAGNOSTIC_ID] == TRACEPARENT


async def test_partner_api_requests_get_client_spans_with_the_request_id(
    captured: Capture,
) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"value": []}, headers={"request-id": "req-42"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    instrument_http_client(client)
    instrument_http_client(client)  # idempotent
    with tracer().start_as_current_span("create_referral") as parent:
        await client.get(
            "https://api.partner.microsoft.com/v1.0/engagements/referrals",
            params={"$filter": "externalReferenceId eq 'sue.smith@contoso.com'", "$top": "5"},
            headers={"client-request-id": "crid-1"},
        )
        await client.get("https://api.partner.microsoft.com/v1.0/engagements/referrals/abc-123")
    await client.aclose()
    listed, got = (s for s in captured.spans() if s.kind is SpanKind.CLIENT)
    assert listed.name == "GET /v1.0/engagements/referrals"
    assert got.name == "GET /v1.0/engagements/referrals/{id}"
    assert listed.attributes is not None
    assert listed.attributes["partner.request_id"] == "req-42"
    assert listed.attributes["partner.client_request_id"] == "crid-1"
    url = next(v for k, v in listed.attributes.items() if k in ("url.full", "http.url"))
    assert "sue.smith" not in json.dumps(dict(listed.attributes))
    assert "REDACTED" in str(url)
    assert listed.parent is not None
    assert listed.parent.span_id == parent.get_span_context().span_id
    # The Partner API sees the trace too (W3C traceparent header).
    assert seen[0].headers["traceparent"].split("-")[1] == f"{listed.context.trace_id:032x}"
