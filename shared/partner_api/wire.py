"""Reading the Partner API's error bodies and Retry-After headers (pure functions, no I/O).

Error bodies come in two documented shapes (fact sheet §4) and we tolerate any other:

* Graph style: `{"error": {"code", "message", "target"?, "details"?: [{code, message, target}],
  "innerError"?: {...nested...}}}` — `target`s become JSON Pointers in our `FieldError` shape.
* Throttling: `{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}`
  — the seconds become a Retry-After when the header is missing.
* Anything else (HTML from a gateway, an empty body): one `FieldError` at path "".

Messages copied into `FieldError`s are redacted first: quoted text, e-mail addresses and digit runs
are replaced, because services like to echo the offending value back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

from shared.contracts.errors import FieldError, json_pointer

_TRY_AGAIN = re.compile(r"try again in (\d+(?:\.\d+)?) ?s(?:econds?)?\b", re.IGNORECASE)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`")
_EMAIL = re.compile(r"[^\s@'\"<>(),;]+@[^\s@'\"<>(),;]+")
_DIGITS = re.compile(r"\+?\d[\d\s().-]{3,}\d")
_INDEX = re.compile(r"\[(\d+)\]")
_MAX_MESSAGE = 300


@dataclass(frozen=True)
class ErrorBody:
    """What an error response said, in our terms."""

    code: str | None
    errors: tuple[FieldError, ...]
    retry_after: float | None = None  # from a "Try again in N seconds" message


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header: delay-seconds or an HTTP-date.

    `now` is the wall-clock time (POSIX seconds) the HTTP-date is measured against. A date in the
    past means "now" (0). Anything unparseable means no advice (None).
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def redact(message: str) -> str:
    """A service message with anything that may be a submitted value taken out."""
    text = _QUOTED.sub("<value>", message)
    text = _EMAIL.sub("<email>", text)
    text = _DIGITS.sub("<number>", text)
    return text[:_MAX_MESSAGE]


def target_pointer(target: str) -> str:
    """A Graph `target` (`customerProfile.team[0].email`, `CustomerProfile/Address`) as a JSON
    Pointer into our camelCase body. A target that already is a JSON Pointer is kept as it is."""
    if target.startswith("/"):
        return target
    text = _INDEX.sub(r".\1", target.strip().removeprefix("$").strip("./"))
    segments: list[str | int] = []
    for raw in re.split(r"[./]", text):
        if not raw:
            continue
        segments.append(int(raw) if raw.isdigit() else raw[0].lower() + raw[1:])
    return json_pointer(segments)


def _field_error(entry: Mapping[str, Any], fallback_code: str) -> FieldError:
    code = entry.get("code")
    message = entry.get("message")
    target = entry.get("target")
    return FieldError(
        path=target_pointer(target) if isinstance(target, str) and target else "",
        code=code if isinstance(code, str) and code else fallback_code,
        message=redact(message) if isinstance(message, str) and message else "refused by the API",
    )


def parse_error_body(body: object, status: int) -> ErrorBody:
    """Our reading of an error response body (already JSON-decoded, or None)."""
    fallback = f"http_{status}"
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            code = error.get("code") if isinstance(error.get("code"), str) else None
            details = [d for d in error.get("details") or () if isinstance(d, Mapping)]
            entries = details or [error]
            return ErrorBody(code, tuple(_field_error(e, code or fallback) for e in entries))
        message = body.get("message")
        if isinstance(
            message, str
        ):  # {"statusCode": 429, "message": "... Try again in N seconds."}
            match = _TRY_AGAIN.search(message)
            retry_after = float(match.group(1)) if match else None
            return ErrorBody(None, (_field_error(body, fallback),), retry_after)
    return ErrorBody(None, (FieldError(path="", code=fallback, message="refused by the API"),))
