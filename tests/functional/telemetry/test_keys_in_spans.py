"""Issue 13 P2: no raw idempotency key in any span attribute (or log record): spans carry the
hashed key, as the logs do.

A publisher that sets no `externalReferenceId` makes the MessageId the key, and publishers often
set MessageId and CorrelationId to their CRM id; rejection and give-up event ids embed the key.
Those ids used to be span attributes as they were (`messaging.message.id`,
`messaging.message.conversation_id`).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from local_host.stack import LocalStack
from local_host.telemetry import Capture
from shared import names

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
CREATED_KEY = "CRM-Span-Probe-Created-41"
REJECTED_KEY = "CRM-Span-Probe-Rejected-42"


def hashed(key: str) -> str:
    """The documented telemetry form of a key (docs/monitoring.md), computed independently."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _values(attributes: Any) -> list[str]:
    out: list[str] = []
    for value in (attributes or {}).values():
        if isinstance(value, str | bytes):
            out.append(value.decode() if isinstance(value, bytes) else value)
        elif isinstance(value, list | tuple):
            out.extend(str(v) for v in value)
        else:
            out.append(str(value))
    return out


async def test_spans_and_logs_carry_message_ids_that_are_keys_only_hashed(
    stack: LocalStack, captured: Capture
) -> None:
    body = json.loads((SAMPLES / "independent.json").read_text())
    del body["externalReferenceId"]  # the MessageId is the key
    stack.publish(json.dumps(body).encode(), message_id=CREATED_KEY, correlation_id=CREATED_KEY)
    invalid = dict(body, type="NotAType")
    stack.publish(json.dumps(invalid).encode(), message_id=REJECTED_KEY)
    assert await stack.drain()
    assert stack.result("created", CREATED_KEY).outcome == "created"
    assert stack.result("rejected", REJECTED_KEY).outcome == "rejected"
    (rejected,) = stack.publisher.of_type(names.REFERRAL_REJECTED)
    assert REJECTED_KEY in rejected.event_id  # the event id embeds the key: a real hazard

    spans = captured.spans()
    assert spans
    for span in spans:
        said = " ".join([span.name, *_values(span.attributes)]).lower()
        for event in span.events:
            said += " " + " ".join(_values(event.attributes)).lower()
        for key in (CREATED_KEY, REJECTED_KEY):
            assert key.lower() not in said, f"span {span.name} names the key {key}"
    records = captured.logs()
    assert records
    for record in records:
        said = " ".join([str(record.log_record.body), *_values(record.log_record.attributes)])
        for key in (CREATED_KEY, REJECTED_KEY):
            assert key.lower() not in said.lower(), f"log record names the key {key}"

    # The hashed key is there, the same in the span as in the summary line.
    invocations = [s for s in spans if s.name == "create_referral"]
    by_message = {(s.attributes or {}).get("messaging.message.id"): s for s in invocations}
    created_span = by_message[hashed(CREATED_KEY)]
    assert (created_span.attributes or {})["messaging.message.conversation_id"] == hashed(
        CREATED_KEY
    )
    assert (created_span.attributes or {})["relay.idempotency_key"] == hashed(CREATED_KEY)
    assert hashed(REJECTED_KEY) in by_message
    producers = [
        (s.attributes or {}).get("messaging.message.id")
        for s in spans
        if s.name == f"publish {names.EVENTS_TOPIC}"
    ]
    # The event type stays readable; the rest of an id that embeds the key is hashed.
    (rejected_id,) = [p for p in producers if str(p).startswith(names.REFERRAL_REJECTED + ":")]
    assert re.fullmatch(rf"{names.REFERRAL_REJECTED}:sha256:[0-9a-f]{{16}}", str(rejected_id))
    lines = [
        dict(r.log_record.attributes or {})
        for r in records
        if (r.log_record.attributes or {}).get("message_id") == hashed(CREATED_KEY)
    ]
    assert lines
    assert lines[0]["idempotency_key"] == hashed(CREATED_KEY)
