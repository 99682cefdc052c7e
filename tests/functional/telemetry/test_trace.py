"""Issue 7 §2: one trace id from the inbound message to the connected referral, through the
real function app on the local host, the served sandbox and the in-memory exporters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from local_host.partner import PartnerConnection
from local_host.stack import LocalStack
from local_host.telemetry import Capture
from partner_sandbox import FaultSpec
from shared import names
from shared.telemetry import metrics

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PUBLISHER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{PUBLISHER_SPAN}-01"


def trace_of(span: ReadableSpan) -> str:
    return f"{span.context.trace_id:032x}"


def by_name(captured: Capture, name: str) -> list[ReadableSpan]:
    return [s for s in captured.spans() if s.name == name]


def parent_of(span: ReadableSpan, captured: Capture) -> ReadableSpan | None:
    if span.parent is None:
        return None
    return next((s for s in captured.spans() if s.context.span_id == span.parent.span_id), None)


def summaries(captured: Capture) -> list[dict[str, Any]]:
    return [
        dict(r.log_record.attributes or {})
        for r in captured.logs()
        if "outcome" in (r.log_record.attributes or {})
    ]


async def test_one_trace_from_the_inbound_message_to_the_connected_referral(
    stack: LocalStack, partner: PartnerConnection, captured: Capture
) -> None:
    message_id = stack.publish(
        (SAMPLES / "shared-cosell.json").read_bytes(),
        properties={names.PROP_TRACEPARENT: TRACEPARENT},
    )
    assert await stack.drain()
    result = stack.result("shared-cosell", message_id)
    assert result.outcome == "connected"

    spans = captured.spans()
    assert {trace_of(s) for s in spans} == {TRACE}, "every span of the referral, one trace"
    (create,) = by_name(captured, "create_referral")
    (connect,) = by_name(captured, "connect_referral")
    assert create.kind is SpanKind.CONSUMER
    assert f"{create.parent.span_id:016x}" == PUBLISHER_SPAN  # type: ignore[union-attr]
    # connect_referral continues from the PRODUCER span that published referral-created ...
    publish = parent_of(connect, captured)
    assert publish is not None
    assert publish.kind is SpanKind.PRODUCER
    assert publish.attributes is not None
    assert publish.attributes["relay.event_type"] == names.REFERRAL_CREATED
    assert parent_of(publish, captured) is create
    # ... and each function's Partner API calls are its children, with Partner's request-id.
    calls = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert {parent_of(c, captured) for c in calls} == {create, connect}
    assert all((c.attributes or {}).get("partner.request_id") for c in calls)
    assert any(c.name == "POST /v1.0/engagements/referrals" for c in calls)
    # The referral-connected event carries the trace on to whoever reads the outcomes.
    (connected,) = stack.publisher.of_type(names.REFERRAL_CONNECTED)
    carried = connected.application_properties[names.PROP_TRACEPARENT]
    assert carried.split("-")[1] == TRACE
    assert connected.application_properties[names.PROP_DIAGNOSTIC_ID] == carried
    # The summary lines and the invocation stream name the same trace.
    assert {line["trace_id"] for line in summaries(captured)} == {TRACE}
    assert {i.trace_id for i in stack.log.invocations} == {TRACE}
    assert create.status.status_code is StatusCode.OK
    assert (connect.attributes or {})["relay.connected_referral_id"] == (
        result.connected_referral_id
    )


async def test_a_message_without_context_starts_the_trace_that_connect_continues(
    stack: LocalStack, captured: Capture
) -> None:
    stack.publish((SAMPLES / "shared-cosell.json").read_bytes())
    assert await stack.drain()
    (create,) = by_name(captured, "create_referral")
    (connect,) = by_name(captured, "connect_referral")
    assert create.parent is None  # a new trace ...
    assert trace_of(connect) == trace_of(create)  # ... that the connected referral continues
    assert len({trace_of(s) for s in captured.spans()}) == 1


async def test_a_referral_the_relay_gives_up_on_is_one_trace_and_one_failure(
    stack: LocalStack, partner: PartnerConnection, captured: Capture
) -> None:
    assert partner.app is not None
    partner.app.sandbox.faults.configure(spec=FaultSpec.parse("503=1,retry-after=0.2"))
    message_id = stack.publish(
        (SAMPLES / "independent.json").read_bytes(),
        properties={names.PROP_TRACEPARENT: TRACEPARENT},
    )
    assert await stack.drain()
    assert stack.result("independent", message_id).outcome == "failed"
    attempts = by_name(captured, "create_referral")
    assert len(attempts) >= 3  # each reschedule and each redelivery until dead-lettered
    assert {trace_of(s) for s in captured.spans()} == {TRACE}
    # Each rescheduled copy continues from the attempt that scheduled it.
    scheduled = [s for s in captured.spans() if s.name == f"schedule {names.REQUESTS_QUEUE}"]
    assert scheduled
    assert all(parent_of(s, captured) in attempts for s in scheduled)
    # One referral-failed, counted once, although the message is abandoned until dead-lettered.
    failed = [line for line in summaries(captured) if line.get(names.TELEMETRY_OUTCOME)]
    assert [line[names.TELEMETRY_OUTCOME] for line in failed] == [names.REFERRAL_FAILED]
    assert captured.metric(metrics.REFERRALS_FAILED) == 1
    assert captured.metric(metrics.API_CALLS, status="503") >= 3
    assert stack.dead_letters() == 1
    (event,) = stack.publisher.of_type(names.REFERRAL_FAILED)
    assert json.loads(event.body)["data"]["stage"] == "create"
