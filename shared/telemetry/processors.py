"""OpenTelemetry processors that scrub PII from spans and log records before any exporter sees
them (the safety net of `pii.py`). Both are registered ahead of the exporting processors.

Spans: an ended span is read-only through the API, so `PiiSpanProcessor.on_end` replaces the
`ReadableSpan`'s attributes, events and status description on the very object the exporting
`BatchSpanProcessor` receives next — the pattern Azure Monitor documents for
`configure_azure_monitor(span_processors=[...])`. It allocates only when something changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.trace import Status
from opentelemetry.util.types import Attributes

from shared.telemetry.pii import scrub, scrub_value


def _scrubbed(attributes: Attributes | Mapping[str, Any]) -> dict[str, Any] | None:
    """A scrubbed copy of the mapping, or None when nothing needed masking."""
    if not attributes:
        return None
    changed = False
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        clean = scrub_value(value)
        changed = changed or clean != value
        out[key] = clean
    return out if changed else None


class PiiSpanProcessor(SpanProcessor):
    """Masks contact data in span names, attributes, events and status descriptions."""

    def on_end(self, span: ReadableSpan) -> None:
        # Private fields of ReadableSpan: the public view is read-only by design, and this
        # processor must act before the exporting processor reads the same object.
        name = scrub(span.name)
        if name != span.name:
            span._name = name
        attributes = _scrubbed(span.attributes)
        if attributes is not None:
            span._attributes = attributes
        if span.events:
            events = [self._event(event) for event in span.events]
            if any(new is not old for new, old in zip(events, span.events, strict=True)):
                span._events = tuple(events)
        description = span.status.description
        if description:
            clean = scrub(description)
            if clean != description:
                span._status = Status(span.status.status_code, clean)

    @staticmethod
    def _event(event: Event) -> Event:
        attributes = _scrubbed(event.attributes)
        name = scrub(event.name)
        if attributes is None and name == event.name:
            return event
        return Event(name, attributes or event.attributes, event.timestamp)


class PiiLogRecordProcessor(LogRecordProcessor):
    """Masks contact data in log bodies and attributes (including exception message and
    stack trace, which the logging bridge adds as attributes)."""

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        record = log_record.log_record
        if isinstance(record.body, str):
            record.body = scrub(record.body)
        attributes = record.attributes
        if attributes:
            clean = _scrubbed(attributes)
            if clean is not None:
                for key, value in clean.items():
                    if value is not attributes.get(key):
                        attributes[key] = value  # type: ignore[index]

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
