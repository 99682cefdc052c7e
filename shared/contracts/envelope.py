"""Inbound envelope: a Service Bus message on `referral-requests` → a typed `ReferralCommand`.

The body is the Partner API create body, read as Partner Center reads it (keys in any case,
`""` as not given: see `intake.py`); the command carries its canonical form, which is what we
POST. The envelope lives in broker properties:
`MessageId`, `CorrelationId`, application property `source`, and — on copies we reschedule —
`relayAttempt` and `relayOriginalMessageId`. Bad input of any kind yields one `InvalidMessage`
(a `ContractViolation`) and never another exception.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from shared.contracts.errors import ContractViolation, FieldError
from shared.contracts.referral import ReferralRequest
from shared.contracts.validation import check_referral_request
from shared.names import (
    PROP_ATTEMPT,
    PROP_ORIGINAL_MESSAGE_ID,
    PROP_SOURCE,
    PROP_TRACEPARENT,
)

MAX_BODY_BYTES: Final = 256 * 1024  # Service Bus Standard's message size limit
MAX_DEPTH: Final = 32


class InboundMessage(Protocol):
    """What we read of `azure.functions.ServiceBusMessage` (which satisfies it as is)."""

    @property
    def message_id(self) -> str | None: ...
    @property
    def correlation_id(self) -> str | None: ...
    @property
    def application_properties(self) -> Mapping[str, Any] | None: ...
    @property
    def delivery_count(self) -> int | None: ...
    @property
    def enqueued_time_utc(self) -> datetime | None: ...
    def get_body(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class MessageMeta:
    """Broker facts about one delivery, needed for idempotency, retries and tracing."""

    message_id: str
    correlation_id: str
    source: str | None
    delivery_count: int
    attempt: int  # attempts made by earlier copies of this message (the reschedule counter)
    original_message_id: str  # the first MessageId of this message's reschedule lineage
    enqueued_time: datetime | None
    traceparent: str | None


@dataclass(frozen=True, slots=True)
class ReferralCommand:
    referral: ReferralRequest
    body: dict[str, Any]  # the canonical body (camelCase keys, empties dropped): what we POST
    idempotency_key: str  # externalReferenceId, else the first MessageId of the lineage
    meta: MessageMeta
    warnings: tuple[FieldError, ...] = ()  # accepted doubts (e.g. created Closed), never refusals


class InvalidMessage(ContractViolation):
    """A message that can never succeed: carries what a `referral-rejected` event needs."""

    def __init__(self, errors: list[FieldError], *, meta: MessageMeta, idempotency_key: str):
        super().__init__(errors)
        self.meta = meta
        self.idempotency_key = idempotency_key


def read_meta(message: InboundMessage) -> MessageMeta:
    props = dict(message.application_properties or {})
    message_id = _text(message.message_id) or ""
    attempt_raw = props.get(PROP_ATTEMPT, 0)
    try:
        attempt = max(0, int(_text(attempt_raw) or 0))
    except ValueError:
        attempt = 0
    return MessageMeta(
        message_id=message_id,
        correlation_id=_text(message.correlation_id) or message_id,
        source=_text(props.get(PROP_SOURCE)),
        delivery_count=int(message.delivery_count or 1),
        attempt=attempt,
        original_message_id=_text(props.get(PROP_ORIGINAL_MESSAGE_ID)) or message_id,
        enqueued_time=message.enqueued_time_utc,
        traceparent=_text(props.get(PROP_TRACEPARENT)),
    )


def parse_message(message: InboundMessage) -> ReferralCommand:
    """Decode and validate one inbound message. Raises `InvalidMessage` and nothing else."""
    meta = read_meta(message)
    data: object = None
    try:
        data = decode_body(message.get_body())
        intake = check_referral_request(data)
    except ContractViolation as violation:
        key = _best_effort_key(data, meta)
        raise InvalidMessage(list(violation.errors), meta=meta, idempotency_key=key) from None
    referral = intake.request
    key = referral.externalReferenceId or meta.original_message_id
    if not key:
        raise InvalidMessage(
            [FieldError(path="", code="missing_key", message=_NO_KEY)],
            meta=meta,
            idempotency_key="",
        )
    return ReferralCommand(
        referral=referral,
        body=intake.body,
        idempotency_key=key,
        meta=meta,
        warnings=intake.warnings,
    )


_NO_KEY: Final = "set externalReferenceId in the body or a MessageId on the message"


def decode_body(raw: bytes | str) -> object:
    """bytes → JSON value, within our size and depth limits. Raises `ContractViolation`."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_BODY_BYTES:
        raise _root("too_large", f"the body is larger than {MAX_BODY_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _root("not_utf8", "the body is not UTF-8 text") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise _root("not_json", "the body is not valid JSON") from None
    if _depth(data) > MAX_DEPTH:
        raise _root("too_deep", f"the body is nested deeper than {MAX_DEPTH} levels")
    return data


def _reject_constant(name: str) -> None:
    raise ValueError("NaN and Infinity are not JSON")


def _depth(value: object) -> int:
    """Container nesting depth, level by level: no recursion, and it stops past the limit."""
    level: list[Any] = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level and depth <= MAX_DEPTH:
        depth += 1
        deeper: list[Any] = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                if type(child) is dict or type(child) is list:
                    deeper.append(child)
        level = deeper
    return depth


def _root(code: str, message: str) -> ContractViolation:
    return ContractViolation([FieldError(path="", code=code, message=message)])


def _best_effort_key(data: object, meta: MessageMeta) -> str:
    """The key of a refused body: its externalReferenceId (any key case) when usable."""
    if isinstance(data, dict):
        for name, ext in data.items():
            named = isinstance(name, str) and name.lower() == "externalreferenceid"
            if named and isinstance(ext, str) and 0 < len(ext) <= 256 and _sendable(ext):
                return ext
    return meta.original_message_id


def _sendable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False  # a lone surrogate: it could not go into an event or a log
    return True


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
