"""The current trace context as a `traceparent` value, for message properties.

Kept apart from `tracing` so that `shared.contracts.events` can import it at module level:
nothing here imports OpenTelemetry until telemetry is active.
"""

from __future__ import annotations

from shared.telemetry import setup


def current_traceparent() -> str | None:
    """`00-<trace id>-<span id>-<flags>` of the current span; None without telemetry or span."""
    if not setup.active():
        return None
    from shared.telemetry.tracing import current_trace_properties

    return current_trace_properties().get("traceparent")
