"""What each invocation reports besides its `Invocation` record: the span, one summary log
line and the outcome metrics. `shared.invocation` opens a `watch()` around the handler.

Per invocation, with telemetry active:

* the invocation span continues the trace the message carries (`tracing.invocation_span`);
* a `ContactRegistry` collects the contacts of the inbound body and of every referral the
  Partner API returns, so the PII safety net can mask them (`pii`);
* the handler's publisher is wrapped so every send is a PRODUCER span and carries the trace;
* one summary line on `referral_relay.invocation`: `function`, `outcome`, ids, hashed key,
  attempt, Partner Center `request_id` and `partner_status` (how its last call ended: the
  configuration alert reads `401`/`403` there, whatever code the error body carried),
  `error_code`, `duration_ms`, and — when the invocation
  published an outcome event — `relay.outcome` = its type (what the alerts count);
* metrics: invocations by outcome, created / connected / rejected / failed, duplicates,
  enqueue-to-outcome latency.

Importing this module does not import OpenTelemetry (cold start).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final, Protocol, TypeVar

from shared import names
from shared.contracts.envelope import InboundMessage, MessageMeta
from shared.telemetry import setup
from shared.telemetry.outcomes import Invocation

if TYPE_CHECKING:
    from dataclasses import Field

    from opentelemetry.trace import Span

    from shared.contracts.events import OutboundEvent
    from shared.publishing.port import Publisher

log = logging.getLogger("referral_relay.invocation")

_LEVELS: Final = {
    "created": logging.INFO,
    "connected": logging.INFO,
    "duplicate": logging.INFO,
    "skipped": logging.INFO,
    "updated": logging.INFO,
    "unchanged": logging.INFO,
    "stale": logging.INFO,
    "rescheduled": logging.WARNING,
    "rejected": logging.WARNING,
    "failed": logging.ERROR,
}
_REACHED: Final = frozenset({"created", "connected"})


class _State:
    """One invocation's telemetry state (a plain class: cheap to define at cold start)."""

    __slots__ = ("function", "meta", "partner_status", "published", "request_id", "span", "started")

    def __init__(self, function: str, meta: MessageMeta) -> None:
        self.function = function
        self.meta = meta
        self.started = time.monotonic()
        self.span: Span | None = None
        self.published: list[str] = []  # types of the events this invocation sent
        self.request_id: str | None = None  # the last Partner API response's request-id
        # How the last Partner API call ended: "403", "401" (after the one renewal), "timeout"…
        self.partner_status: str | None = None


_current: ContextVar[_State | None] = ContextVar("relay_invocation", default=None)


def partner_response(operation: str, status: int | str, request_id: str | None) -> None:
    """The Partner API client reports each response (or transport failure) here."""
    from shared.telemetry import metrics

    metrics.api_call(operation, status)
    state = _current.get()
    if state is not None:
        state.partner_status = str(status)
        if request_id:
            state.request_id = request_id


class _Deps(Protocol):
    """A handler's dependencies as telemetry sees them (a dataclass with a publisher):
    telemetry sits below the handlers and names none of their types."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]
    publisher: Publisher


_D = TypeVar("_D", bound=_Deps)


class Watch:
    """The handle `shared.invocation` uses inside `watch()`."""

    def __init__(self, state: _State) -> None:
        self._state = state

    def deps(self, deps: _D) -> _D:
        """The handler's dependencies, with a publisher that traces (when telemetry is on)."""
        if self._state.span is None:
            return deps
        from shared.telemetry.tracing import TracedPublisher

        return dataclasses.replace(deps, publisher=TracedPublisher(deps.publisher, self._sent))

    def _sent(self, event: OutboundEvent) -> None:
        from shared.telemetry import metrics

        self._state.published.append(event.type)
        if event.type == names.REFERRAL_FAILED:
            code = event.data().get("errorCode")
            metrics.referral_failed(self._state.function, code if isinstance(code, str) else None)

    def finish(self, invocation: Invocation, error: BaseException | None = None) -> Invocation:
        """Annotate the span, write the summary line, record metrics; returns the invocation
        with its trace id. Never raises: telemetry must not change what happens to a message."""
        try:
            return self._finish(invocation, error)
        except Exception:
            log.exception("invocation telemetry failed")
            return invocation

    def _finish(self, invocation: Invocation, error: BaseException | None) -> Invocation:
        from shared.telemetry import logs, metrics

        state = self._state
        outcome = invocation.outcome
        kind = outcome.kind if outcome else "error"
        trace_id = None
        if state.span is not None:
            from shared.telemetry.tracing import trace_id_of

            trace_id = trace_id_of(state.span)
            _annotate(state.span, invocation, error)
        latency = _latency(state.meta) if kind in _REACHED else None
        fields = logs.summary_fields(
            {
                logs.FUNCTION: invocation.function,
                logs.OUTCOME: kind,
                logs.SETTLED: invocation.settled,
                logs.TRACE_ID: trace_id,
                logs.CORRELATION_ID: logs.id_for_telemetry(invocation.correlation_id),
                logs.MESSAGE_ID: logs.id_for_telemetry(invocation.message_id),
                logs.IDEMPOTENCY_KEY: logs.key_for_telemetry(outcome.key if outcome else None),
                logs.REFERRAL_ID: outcome.referral_id if outcome else None,
                logs.ENGAGEMENT_ID: outcome.engagement_id if outcome else None,
                logs.CONNECTED_REFERRAL_ID: outcome.connected_referral_id if outcome else None,
                logs.ATTEMPT: outcome.attempt if outcome else None,
                logs.DELIVERY_COUNT: invocation.delivery_count,
                logs.REQUEST_ID: state.request_id,
                logs.PARTNER_STATUS: state.partner_status,
                logs.ERROR_CODE: outcome.error_code if outcome else None,
                logs.ERROR_TYPE: invocation.error if outcome is None else None,
                logs.DURATION_MS: round((time.monotonic() - state.started) * 1000, 1),
                logs.LATENCY_MS: round(latency * 1000, 1) if latency is not None else None,
                names.TELEMETRY_OUTCOME: state.published[-1] if state.published else None,
            }
        )
        level = _LEVELS.get(kind, logging.ERROR)
        if log.isEnabledFor(level):
            message = f"{invocation.function} {kind}"
            if outcome is None and invocation.error:
                message += f" ({invocation.error})"
            log.log(level, message, extra=fields)
        metrics.invocation(
            invocation.function, kind, invocation.settled, outcome.error_code if outcome else None
        )
        if latency is not None:
            metrics.referral_latency(invocation.function, latency)
        return dataclasses.replace(invocation, trace_id=trace_id) if trace_id else invocation


def _latency(meta: MessageMeta) -> float | None:
    if meta.enqueued_time is None:
        return None
    enqueued = meta.enqueued_time
    if enqueued.tzinfo is None:
        enqueued = enqueued.replace(tzinfo=UTC)  # the Functions binding gives naive UTC
    return max(0.0, (datetime.now(UTC) - enqueued).total_seconds())


def _annotate(span: Span, invocation: Invocation, error: BaseException | None) -> None:
    from opentelemetry.trace import StatusCode

    from shared.telemetry import logs

    outcome = invocation.outcome
    attributes: dict[str, Any] = {"relay.outcome": outcome.kind if outcome else "error"}
    attributes["relay.settled"] = invocation.settled
    if outcome is not None:
        for key, value in (
            ("relay.idempotency_key", logs.key_for_telemetry(outcome.key)),
            ("relay.referral_id", outcome.referral_id),
            ("relay.engagement_id", outcome.engagement_id),
            ("relay.connected_referral_id", outcome.connected_referral_id),
            ("relay.referral_type", outcome.referral_type),
            ("relay.error_code", outcome.error_code),
            ("relay.attempt", outcome.attempt),
        ):
            if value is not None:
                attributes[key] = value
    span.set_attributes(attributes)
    if outcome is None:
        if error is not None:
            span.record_exception(error)
        span.set_status(StatusCode.ERROR, invocation.error or "error")
    elif outcome.kind == "failed":
        span.set_status(StatusCode.ERROR, outcome.error_code or "failed")
    elif _LEVELS.get(outcome.kind) == logging.INFO:
        span.set_status(StatusCode.OK)


@contextmanager
def watch(function: str, message: InboundMessage, meta: MessageMeta) -> Iterator[Watch]:
    """Open the invocation's telemetry scope (span, contact registry, state)."""
    state = _State(function, meta)
    token = _current.set(state)
    try:
        if not setup.ensure_configured():
            yield Watch(state)
            return
        from shared.telemetry import pii
        from shared.telemetry.tracing import invocation_span

        with ExitStack() as scope:
            scope.enter_context(pii.contact_scope())
            if function in ("create_referral", "update_referral"):  # bodies with contacts
                _remember_body(message)
            state.span = scope.enter_context(
                invocation_span(function, meta, message.application_properties)
            )
            yield Watch(state)
    finally:
        _current.reset(token)


def _remember_body(message: InboundMessage) -> None:
    from shared.contracts.envelope import decode_body
    from shared.contracts.errors import ContractViolation
    from shared.telemetry import pii

    with suppress(ContractViolation):  # not JSON: nothing to learn; the patterns still apply
        pii.remember_contacts(decode_body(message.get_body()))
