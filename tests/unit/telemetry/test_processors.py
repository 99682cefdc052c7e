"""The OpenTelemetry processors mask contact data before any exporter reads a span or a log."""

from __future__ import annotations

import logging

from opentelemetry.trace import StatusCode

from local_host.telemetry import Capture
from shared.telemetry.pii import contact_scope, remember_contacts
from shared.telemetry.tracing import tracer

CONTACT = {"firstName": "Gwendolyn", "lastName": "Okafor", "email": "g.okafor@contoso.com"}
SECRETS = ("Gwendolyn", "Okafor", "g.okafor@contoso.com", "425-555-0100")


def _exported_text(captured: Capture) -> str:
    parts: list[str] = []
    for span in captured.spans():
        parts.append(span.name)
        parts.extend(map(str, (span.attributes or {}).values()))
        parts.append(span.status.description or "")
        for event in span.events:
            parts.append(event.name)
            parts.extend(map(str, (event.attributes or {}).values()))
    for record in captured.logs():
        parts.append(str(record.log_record.body))
        parts.extend(map(str, (record.log_record.attributes or {}).values()))
    return "\n".join(parts)


def test_spans_are_scrubbed_before_export(captured: Capture) -> None:
    with contact_scope():
        remember_contacts(CONTACT)
        with tracer().start_as_current_span("for Gwendolyn") as span:
            span.set_attribute("note", "Okafor at g.okafor@contoso.com")
            span.set_attribute("phones", ["425-555-0100", "none"])
            span.set_attribute("count", 3)
            span.add_event("called", {"who": "Gwendolyn Okafor"})
            span.record_exception(ValueError("no such contact: g.okafor@contoso.com"))
            span.set_status(StatusCode.ERROR, "Okafor refused")
    (exported,) = captured.spans()
    text = _exported_text(captured)
    for secret in SECRETS:
        assert secret not in text
    assert exported.name == "for [name]"
    assert exported.attributes is not None
    assert exported.attributes["note"] == "[name] at [email]"
    assert exported.attributes["phones"] == ("[phone]", "none")
    assert exported.attributes["count"] == 3
    assert exported.status.description == "[name] refused"
    assert "ValueError" in text  # the exception stays visible, only its contact data goes


def test_clean_spans_pass_through_untouched(captured: Capture) -> None:
    with tracer().start_as_current_span("create_referral") as span:
        span.set_attribute("relay.referral_id", "3f2a9c1e-1234-5678-9abc-def012345678")
    (exported,) = captured.spans()
    assert exported.attributes == {"relay.referral_id": "3f2a9c1e-1234-5678-9abc-def012345678"}


def test_log_records_are_scrubbed_before_export(captured: Capture) -> None:
    log = logging.getLogger("referral_relay.test")
    with contact_scope():
        remember_contacts(CONTACT)
        try:
            raise RuntimeError("Gwendolyn Okafor <g.okafor@contoso.com>")
        except RuntimeError:
            log.exception("failed for %s", "Okafor", extra={"phone": "425-555-0100"})
    (record,) = captured.logs()
    text = _exported_text(captured)
    for secret in SECRETS:
        assert secret not in text
    assert record.log_record.body == "failed for [name]"
    assert record.log_record.attributes is not None
    assert record.log_record.attributes["phone"] == "[phone]"
    assert "RuntimeError" in str(record.log_record.attributes["exception.stacktrace"])
