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
* `configure_local_logging("text" | "json", level)` — what `referral-relay run` calls: one
  handler on stderr, readable text by default, or one JSON object per line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any, Final, Literal

from shared.names import EVENT_TYPES
from shared.telemetry import pii
from shared.telemetry.setup import LOGGER_ROOT

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


# ---- formatters ------------------------------------------------------------------------------


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def _exception(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    return pii.scrub(record.exc_text) if record.exc_text else None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `ts`, `level`, `logger`, `message`, then the flat fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _timestamp(record).replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": pii.scrub(record.getMessage()),
        }
        for key, value in extra_fields(record).items():
            out[key] = pii.scrub_value(value) if isinstance(value, str | list | tuple) else value
        exception = _exception(self, record)
        if exception:
            out["exception"] = exception
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`12:00:01.123 INFO  create_referral created  referral_id=… trace_id=…` — for people."""

    def format(self, record: logging.LogRecord) -> str:
        fields = extra_fields(record)
        time = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        message = pii.scrub(record.getMessage())
        parts = [f"{time} {record.levelname:<7} {message}"]
        details = [
            f"{key}={pii.scrub_value(value) if isinstance(value, str) else value}"
            for key, value in fields.items()
            if not _said(key, value, message)
        ]
        if details:
            parts.append("  " + " ".join(details))
        line = "".join(parts)
        exception = _exception(self, record)
        return f"{line}\n{exception}" if exception else line


def _said(key: str, value: object, message: str) -> bool:
    """Fields a text line leaves out: what its message already says, and the obvious."""
    if key in (FUNCTION, OUTCOME):
        return str(value) in message.split()
    return key == SPAN_ID or (key == SETTLED and value == "complete")


LogFormat = Literal["text", "json"]
_LOCAL_HANDLER: Final = "referral-relay-local"


def configure_local_logging(
    format: LogFormat = "text",
    level: int | str = logging.INFO,
    *,
    stream: IO[str] | None = None,
    tracing: bool = True,
) -> logging.Handler:
    """Send the `referral_relay` loggers to stderr (or `stream`), as text or JSON lines.

    With `tracing` (the default) local OpenTelemetry providers are installed too, so records
    carry real trace ids and the two functions share one trace (`setup.install_local`).
    Calling it again replaces the previous handler. Returns the handler.
    """
    if format not in ("text", "json"):
        raise ValueError(f"log format must be 'text' or 'json', not {format!r}")
    if tracing:
        from shared.telemetry import setup

        setup.install_local()
    relay = logging.getLogger(LOGGER_ROOT)
    for old in [h for h in relay.handlers if h.get_name() == _LOCAL_HANDLER]:
        relay.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_LOCAL_HANDLER)
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    handler.addFilter(TraceContextFilter())
    handler.addFilter(PiiFilter())
    relay.addHandler(handler)
    relay.setLevel(level)
    relay.propagate = False  # one line per record, whatever the root logger does
    return handler


def summary_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Drop empty values: absent beats `null` in customDimensions and in JSON lines."""
    return {key: value for key, value in fields.items() if value is not None and value != ""}
