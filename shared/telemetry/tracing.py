"""Distributed tracing: one trace per referral, from the inbound message to the connected one.

* **Ids** — message, correlation and event ids may *be* the idempotency key, so spans carry
  them as logs do (`logs.id_for_telemetry`: a UUID as is, anything else hashed).
* **Continue** — each invocation's span (kind CONSUMER, named after the function) is a child of
  the context the message carries: application property `traceparent`, else a W3C-formatted
  `Diagnostic-Id` (what the Azure SDKs write). If the worker has already attached a context of
  that same trace, the span nests under it instead.
* **Publish** — `TracedPublisher` wraps each send in a PRODUCER span and writes *that* span's
  context into the message (`traceparent`, and `Diagnostic-Id` equal to it), so
  `connect_referral` — and a rescheduled copy of the inbound message — continue the trace.
* **Partner API** — `instrument_http_client` adds a CLIENT span per HTTP request (httpx
  instrumentation) named by route, with Partner Center's `request-id` and our
  `client-request-id`, and without query values (OData filters name CRM ids).

Imported only once telemetry is active (it imports OpenTelemetry).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from functools import cache
from typing import Any, Final

import httpx
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared import names
from shared.contracts.envelope import MessageMeta
from shared.contracts.events import OutboundEvent
from shared.publishing.port import Publisher, ScheduledMessage
from shared.telemetry.logs import id_for_telemetry
from shared.telemetry.setup import TRACER_NAME

_PROPAGATOR: Final = TraceContextTextMapPropagator()
_TRACESTATE: Final = "tracestate"

# Messaging semantic conventions (the attributes Application Insights shows for requests).
SYSTEM: Final = "messaging.system"
OPERATION_TYPE: Final = "messaging.operation.type"
DESTINATION: Final = "messaging.destination.name"
SUBSCRIPTION: Final = "messaging.destination.subscription.name"
MESSAGE_ID: Final = "messaging.message.id"
CONVERSATION_ID: Final = "messaging.message.conversation_id"
DELIVERY_COUNT: Final = "messaging.servicebus.message.delivery_count"
PARTNER_REQUEST_ID: Final = "partner.request_id"
CLIENT_REQUEST_ID: Final = "partner.client_request_id"

# What each function is triggered by (queue, or topic + subscription).
TRIGGERS: Final[dict[str, tuple[str, str | None]]] = {
    "create_referral": (names.REQUESTS_QUEUE, None),
    "connect_referral": (names.EVENTS_TOPIC, names.CONNECT_SUBSCRIPTION),
    "update_referral": (names.UPDATES_QUEUE, None),
}


@cache
def tracer() -> trace.Tracer:
    """Our tracer, made once (a proxy until the SDK provider is set, then delegating to it)."""
    return trace.get_tracer(TRACER_NAME)


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def message_context(properties: Mapping[str, Any] | None) -> otel_context.Context | None:
    """The trace context a message carries, or None when it carries none (or a malformed one)."""
    if not properties:
        return None
    carrier: dict[str, str] = {}
    for key in (names.PROP_TRACEPARENT, names.PROP_DIAGNOSTIC_ID):
        value = _text(properties.get(key))
        if value:
            carrier["traceparent"] = value.strip()
            break
    if not carrier:
        return None
    state = _text(properties.get(_TRACESTATE))
    if state:
        carrier[_TRACESTATE] = state
    extracted = _PROPAGATOR.extract(carrier)
    if not trace.get_current_span(extracted).get_span_context().is_valid:
        return None  # e.g. a legacy hierarchical Request-Id in Diagnostic-Id
    return extracted


def _parent(properties: Mapping[str, Any] | None) -> otel_context.Context | None:
    from_message = message_context(properties)
    if from_message is None:
        return None  # the current context (a worker-attached one, or none: a new trace)
    current = trace.get_current_span().get_span_context()
    carried = trace.get_current_span(from_message).get_span_context()
    if current.is_valid and current.trace_id == carried.trace_id:
        return None  # already inside that trace (the host's span): nest under it
    return from_message


@contextmanager
def invocation_span(
    function: str, meta: MessageMeta, properties: Mapping[str, Any] | None
) -> Iterator[Span]:
    """The span of one invocation, current while the handler runs."""
    destination, subscription = TRIGGERS.get(function, (function, None))
    attributes: dict[str, Any] = {
        SYSTEM: "servicebus",
        OPERATION_TYPE: "process",
        DESTINATION: destination,
        MESSAGE_ID: id_for_telemetry(meta.message_id),
        CONVERSATION_ID: id_for_telemetry(meta.correlation_id),
        DELIVERY_COUNT: meta.delivery_count,
        "faas.trigger": "pubsub",
        "relay.function": function,
    }
    if subscription:
        attributes[SUBSCRIPTION] = subscription
    with tracer().start_as_current_span(
        function,
        context=_parent(properties),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        record_exception=False,  # RetryLater is control flow; shared.invocation records errors
        set_status_on_exception=False,
    ) as span:
        yield span


def trace_id_of(span: Span) -> str | None:
    context = span.get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def current_trace_properties() -> dict[str, str]:
    """`traceparent` (and `tracestate`) of the current span; empty outside a valid span."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def with_trace_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of message properties carrying the current span's context as `traceparent` and
    `Diagnostic-Id` (the same value: .NET and older SDKs read the latter)."""
    carrier = current_trace_properties()
    out = dict(properties)
    traceparent = carrier.get("traceparent")
    if traceparent:
        out[names.PROP_TRACEPARENT] = traceparent
        out[names.PROP_DIAGNOSTIC_ID] = traceparent
        if carrier.get(_TRACESTATE):
            out[_TRACESTATE] = carrier[_TRACESTATE]
    return out


class TracedPublisher:
    """`Publisher` decorator: a PRODUCER span per send, whose context the message carries.

    `on_event(event_type)` hears every event actually sent (the invocation's telemetry counts
    `referral-failed` from it: only a give-up publishes one).
    """

    def __init__(self, inner: Publisher, on_event: Callable[[OutboundEvent], None]) -> None:
        self._inner = inner
        self._on_event = on_event

    async def publish(self, event: OutboundEvent) -> None:
        with _producer_span(
            "publish",
            names.EVENTS_TOPIC,
            event.event_id,
            event.correlation_id,
            {"relay.event_type": event.type},
        ):
            traced = dataclasses.replace(
                event, application_properties=with_trace_properties(event.application_properties)
            )
            await self._inner.publish(traced)
        self._on_event(event)

    async def schedule(self, message: ScheduledMessage) -> None:
        with _producer_span("schedule", message.queue, message.message_id, message.correlation_id):
            traced = dataclasses.replace(
                message,
                application_properties=with_trace_properties(message.application_properties),
            )
            await self._inner.schedule(traced)


def _producer_span(
    verb: str,
    destination: str,
    message_id: str,
    correlation_id: str,
    extra: Mapping[str, str] | None = None,
) -> AbstractContextManager[Span]:
    """The PRODUCER span of one Service Bus send, current while the message is built and sent
    (so `with_trace_properties` gives the message this span's context)."""
    return tracer().start_as_current_span(
        f"{verb} {destination}",
        kind=SpanKind.PRODUCER,
        attributes={
            SYSTEM: "servicebus",
            OPERATION_TYPE: "send",
            DESTINATION: destination,
            MESSAGE_ID: id_for_telemetry(message_id),
            CONVERSATION_ID: id_for_telemetry(correlation_id),
            **(extra or {}),
        },
    )


# ---- the Partner API client's HTTP spans ------------------------------------------------------

_ITEM: Final = re.compile(r"(/engagements/referrals)/[^/?]+")


def _route(url: httpx.URL) -> str:
    return _ITEM.sub(r"\1/{id}", url.path)


def _redacted(url: httpx.URL) -> str:
    """The URL without query values: `$filter` literals are CRM ids or engagement ids."""
    if not url.query:
        return str(url)
    params = [(key, "REDACTED") for key, _ in url.params.multi_items()]
    return str(url.copy_with(params=params))


async def _request_hook(span: Span, request: Any) -> None:
    if not span.is_recording():
        return
    url = httpx.URL(str(request.url))
    method = request.method.decode() if isinstance(request.method, bytes) else request.method
    span.update_name(f"{method} {_route(url)}")
    redacted = _redacted(url)
    recorded = getattr(span, "attributes", None) or {}
    for key in ("url.full", "http.url"):  # whichever the semconv mode wrote
        if key in recorded:
            span.set_attribute(key, redacted)
    headers = request.headers
    if headers is not None and headers.get("client-request-id"):
        span.set_attribute(CLIENT_REQUEST_ID, headers["client-request-id"])


async def _response_hook(span: Span, request: Any, response: Any) -> None:
    headers = response.headers
    if span.is_recording() and headers is not None:
        request_id = headers.get("request-id") or headers.get("x-ms-request-id")
        if request_id:
            span.set_attribute(PARTNER_REQUEST_ID, request_id)


def instrument_http_client(client: httpx.AsyncClient) -> None:
    """CLIENT spans for every request this client sends (any transport, including the
    sandbox's in-process one). Idempotent."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    if getattr(client, "_is_instrumented_by_opentelemetry", False):
        return
    HTTPXClientInstrumentor.instrument_client(
        client, request_hook=_request_hook, response_hook=_response_hook
    )
