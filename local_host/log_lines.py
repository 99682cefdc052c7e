"""Dev-only: log lines for local runs — readable text by default, or one JSON object per line.

`configure_local_logging("text" | "json", level)` is what `referral-relay run` calls: one handler
on stderr for the `referral_relay` loggers, with the same filters as in Azure (trace context,
PII). Not deployed (`.funcignore`): in Azure the records go to Application Insights through the
OpenTelemetry handler `shared.telemetry.setup` attaches.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any, Final, Literal

from shared.telemetry import pii
from shared.telemetry.logs import (
    FUNCTION,
    OUTCOME,
    SETTLED,
    SPAN_ID,
    PiiFilter,
    TraceContextFilter,
    extra_fields,
)
from shared.telemetry.setup import LOGGER_ROOT

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
    carry real trace ids and the two functions share one trace (`telemetry.install_local`).
    Calling it again replaces the previous handler. Returns the handler.
    """
    if format not in ("text", "json"):
        raise ValueError(f"log format must be 'text' or 'json', not {format!r}")
    if tracing:
        from local_host.telemetry import install_local

        install_local()
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
