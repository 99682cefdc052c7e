"""Structured logging conventions: flat attributes, hashed keys, text and JSON lines, PII filter.

Every logger of ours is a child of `referral_relay` (`logging.getLogger("referral_relay.<part>")`)
and passes structured fields with `extra={...}` using the flat names below — in Application
Insights they become `customDimensions`, in local JSON lines top-level keys. Values are ids,
codes, counts and statuses, never message content.

* `hash_key(key)` → `"sha256:<first 16 hex>"`; `key_for_telemetry(key)` keeps a UUID-shaped
  idempotency key readable and hashes anything else (an `externalReferenceId` is the publisher's
  own text and could be personal). In KQL: `strcat("sha256:", substring(hash_sha256(k), 0, 16))`.
  `id_for_telemetry(id)` does the same for message, correlation and event ids (any may be a key).
* `TraceContextFilter` stamps `trace_id` / `span_id` of the current span on every record;
  `PiiFilter` masks contact data in the message, arguments, extra fields and exception text.
* Local text and JSON lines (`referral-relay run`) are dev-only: `local_host.log_lines`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, Final

from shared.names import EVENT_TYPES
from shared.telemetry import pii

# ---- the flat attribute names ---------------------------------------------------------------

FUNCTION: Final = "function"
TRACE_ID: Final = "trace_id"
SPAN_ID: Final = "span_id"
CORRELATION_ID: Final = "correlation_id"
MESSAGE_ID: Final = "message_id"
IDEMPOTENCY_KEY: Final = "idempotency_key"
REFERRAL_ID: Final = "referral_id"
ENGAGEMENT_ID: Final = "engagement_id"
CONNECTED_REFERRAL_ID: Final = "connected_referral_id"
OUTCOME: Final = "outcome"
ATTEMPT: Final = "attempt"
DELIVERY_COUNT: Final = "delivery_count"
REQUEST_ID: Final = "request_id"  # Partner Center's `request-id` response header
PARTNER_STATUS: Final = "partner_status"  # how the last Partner API call ended: "403", "timeout"
CLIENT_REQUEST_ID: Final = "client_request_id"
ERROR_CODE: Final = "error_code"
ERROR_TYPE: Final = "error_type"
SETTLED: Final = "settled"
DURATION_MS: Final = "duration_ms"
LATENCY_MS: Final = "latency_ms"  # from enqueue of the message to this outcome
OPERATION: Final = "operation"
STATUS: Final = "status"

# Every standard LogRecord attribute: anything else on a record is an `extra` field.
_STANDARD: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}

_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}")


def hash_key(key: str) -> str:
    """A stable, non-reversible stand-in for a key: `sha256:` + the first 16 hex digits."""
    # surrogatepass: a lone surrogate (valid in JSON, not in UTF-8) must not break telemetry.
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def key_for_telemetry(key: str | None) -> str | None:
    """The idempotency key as telemetry may carry it: a UUID as is, anything else hashed."""
    if not key:
        return None
    return key if _UUID.fullmatch(key) else hash_key(key)


# `<event type>:<rest>` (event ids) and `<rest>#retry<n>[.<w>]` (rescheduled copies' MessageIds).
_ID_SHAPE: Final = re.compile(
    r"(?P<kind>(?:" + "|".join(map(re.escape, EVENT_TYPES)) + r"):)?(?P<rest>.*?)"
    r"(?P<retry>#retry\d+(?:\.\d+)?)?",
    re.DOTALL,
)


def id_for_telemetry(value: str | None) -> str | None:
    """A MessageId, CorrelationId or event id as telemetry may carry it.

    Any of them may *be* the idempotency key: the MessageId is the key when the body has no
    `externalReferenceId` (and publishers often set it to their CRM id), the CorrelationId
    defaults to the MessageId, and event ids and rescheduled copies' MessageIds embed one of
    them. So the part that may be a key goes through `key_for_telemetry`; the event-type prefix
    and the `#retry` suffix stay readable.
    """
    if not value:
        return None
    match = _ID_SHAPE.fullmatch(value)
    if match is None:  # cannot happen (the pattern matches every string); stay safe anyway
        return hash_key(value)
    rest = key_for_telemetry(match["rest"]) or ""
    return f"{match['kind'] or ''}{rest}{match['retry'] or ''}"


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured (`extra=`) fields of a record, without None values."""
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _STANDARD and value is not None and not key.startswith("_")
    }


# ---- filters ---------------------------------------------------------------------------------


class TraceContextFilter(logging.Filter):
    """Adds `trace_id` and `span_id` of the current OpenTelemetry span (if there is one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, TRACE_ID, None) is None:
            trace_module = sys.modules.get("opentelemetry.trace")  # never imported: no span
            if trace_module is not None:
                context = trace_module.get_current_span().get_span_context()
                if context.is_valid:
                    setattr(record, TRACE_ID, f"{context.trace_id:032x}")
                    setattr(record, SPAN_ID, f"{context.span_id:016x}")
        return True


class PiiFilter(logging.Filter):
    """Masks contact data in a record before any handler formats it (see `pii`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = pii.scrub(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        for key, value in extra_fields(record).items():
            clean_value = pii.scrub_value(value)
            if clean_value is not value:
                setattr(record, key, clean_value)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = pii.scrub(record.exc_text)
        return True


def summary_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Drop empty values: absent beats `null` in customDimensions and in JSON lines."""
    return {key: value for key, value in fields.items() if value is not None and value != ""}
