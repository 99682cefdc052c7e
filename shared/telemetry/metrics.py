"""Every metric the relay records, named in one place (Application Insights `customMetrics`).

Instruments come from the global OpenTelemetry meter provider, created on first use: importing
this module costs nothing (cold start), and until telemetry is configured
(`shared.telemetry.setup`) every call returns after one flag check (the pipeline benchmark
measures CPU per referral). Attribute values come from closed vocabularies (function names,
outcome kinds, HTTP statuses, error codes) — never from message content.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from shared.telemetry import setup

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram

METER_NAME: Final = "referral_relay"

# Outcomes (recorded by shared.invocation, once per invocation).
REFERRALS_CREATED: Final = "relay.referrals.created"
REFERRALS_CONNECTED: Final = "relay.referrals.connected"
REFERRALS_REJECTED: Final = "relay.referrals.rejected"  # by error_code
REFERRALS_FAILED: Final = "relay.referrals.failed"  # referral-failed events published
DUPLICATES_SUPPRESSED: Final = "relay.duplicates.suppressed"
INVOCATIONS: Final = "relay.invocations"  # by function, outcome, settled
REFERRAL_LATENCY: Final = "relay.referral.latency"  # s, enqueue of the message -> outcome
# The Partner API client.
API_CALLS: Final = "relay.partner_api.calls"  # by operation, status ("429", "network", ...)
API_THROTTLES: Final = "relay.partner_api.throttles"
API_RETRY_WAIT: Final = "relay.partner_api.retry_wait"  # s, each backoff the client sleeps
# The token provider.
TOKEN_REFRESHES: Final = "relay.token.refreshes"  # noqa: S105 - a metric name; by result

ALL: Final = (
    REFERRALS_CREATED,
    REFERRALS_CONNECTED,
    REFERRALS_REJECTED,
    REFERRALS_FAILED,
    DUPLICATES_SUPPRESSED,
    INVOCATIONS,
    REFERRAL_LATENCY,
    API_CALLS,
    API_THROTTLES,
    API_RETRY_WAIT,
    TOKEN_REFRESHES,
)

# Attribute keys (customDimensions).
FUNCTION: Final = "function"
OUTCOME: Final = "outcome"
SETTLED: Final = "settled"
ERROR_CODE: Final = "error_code"
OPERATION: Final = "operation"
STATUS: Final = "status"
RESULT: Final = "result"


class _Instruments:
    """The instruments, created together on first use (a plain class: cheap to define)."""

    __slots__ = (
        "api_calls",
        "connected",
        "created",
        "duplicates",
        "failed",
        "invocations",
        "latency",
        "rejected",
        "retry_wait",
        "throttles",
        "token_refreshes",
    )

    def __init__(self) -> None:
        from opentelemetry import metrics

        meter = metrics.get_meter(METER_NAME)
        count = meter.create_counter
        self.created: Counter = count(REFERRALS_CREATED, "{referral}", "Referrals created")
        self.connected: Counter = count(REFERRALS_CONNECTED, "{referral}", "Connected referrals")
        self.rejected: Counter = count(REFERRALS_REJECTED, "{referral}", "referral-rejected events")
        self.failed: Counter = count(REFERRALS_FAILED, "{referral}", "referral-failed events")
        self.duplicates: Counter = count(DUPLICATES_SUPPRESSED, "{message}", "Repeats absorbed")
        self.invocations: Counter = count(INVOCATIONS, "{invocation}", "Invocations by outcome")
        self.latency: Histogram = meter.create_histogram(
            REFERRAL_LATENCY, "s", "From enqueue of the message to its referral"
        )
        self.api_calls: Counter = count(API_CALLS, "{request}", "Partner API requests by status")
        self.throttles: Counter = count(API_THROTTLES, "{request}", "Partner API 429 responses")
        self.retry_wait: Histogram = meter.create_histogram(
            API_RETRY_WAIT, "s", "Backoff waits before retrying a Partner API call"
        )
        self.token_refreshes: Counter = count(TOKEN_REFRESHES, "{request}", "Token refreshes")


_instruments: _Instruments | None = None


def _get() -> _Instruments:
    global _instruments
    if _instruments is None:
        _instruments = _Instruments()
    return _instruments


def invocation(function: str, outcome: str, settled: str, error_code: str | None) -> None:
    """One finished invocation: the general counter plus the outcome's own."""
    if not setup.active():
        return
    m = _get()
    m.invocations.add(1, {FUNCTION: function, OUTCOME: outcome, SETTLED: settled})
    if outcome == "created":
        m.created.add(1, {FUNCTION: function})
    elif outcome == "connected":
        m.connected.add(1, {FUNCTION: function})
    elif outcome == "duplicate":
        m.duplicates.add(1, {FUNCTION: function})
    elif outcome == "rejected":
        m.rejected.add(1, {FUNCTION: function, ERROR_CODE: error_code or "unknown"})


def referral_failed(function: str, error_code: str | None) -> None:
    """A referral-failed event was published (the pipeline gave up on one referral)."""
    if setup.active():
        _get().failed.add(1, {FUNCTION: function, ERROR_CODE: error_code or "unknown"})


def referral_latency(function: str, seconds: float) -> None:
    if setup.active():
        _get().latency.record(max(0.0, seconds), {FUNCTION: function})


def api_call(operation: str, status: int | str) -> None:
    """One Partner API request and how it ended: an HTTP status or "network"/"timeout"."""
    if not setup.active():
        return
    m = _get()
    m.api_calls.add(1, {OPERATION: operation, STATUS: str(status)})
    if status == 429:
        m.throttles.add(1, {OPERATION: operation})


def retry_wait(operation: str, seconds: float) -> None:
    if setup.active():
        _get().retry_wait.record(max(0.0, seconds), {OPERATION: operation})


def token_refresh(result: str) -> None:
    """`success` or `failure`: one request to the token endpoint."""
    if setup.active():
        _get().token_refreshes.add(1, {RESULT: result})
