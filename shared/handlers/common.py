"""What both handlers share: dependencies, outcomes, retry decisions and error mapping."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar, Final, Literal

from shared.auth.errors import AuthError
from shared.contracts.errors import FieldError
from shared.ledger.marks import Marks
from shared.ledger.port import Ledger
from shared.partner_api.errors import (
    ConfigurationError,
    InvalidRequest,
    NotFound,
    PartnerApiError,
    PermanentError,
    PreconditionFailed,
)
from shared.partner_api.port import PartnerApi
from shared.publishing.port import Publisher

OutcomeKind = Literal[
    "created",
    "connected",
    "duplicate",
    "rejected",
    "rescheduled",
    "failed",
    "skipped",
    "updated",  # update_referral: patched
    "unchanged",  # update_referral: it already held every value, nothing sent
    "stale",  # update_referral: a later CRM change was applied already
]


class Clock:
    """Monotonic time for deadlines and in-invocation waits; tests pass a fake. (`time()` is
    this instance's wall clock: the protocol never decides anything on it, it runs on the
    ledger's `now()`.)"""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _no_checkpoint(step: str) -> None:
    return None


Checkpoint = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HandlerConfig:
    max_attempts: int = 5
    retry_budget_seconds: float = 45.0
    claim_ttl_seconds: float = 120.0
    reschedule_base_seconds: float = 5.0
    reschedule_max_seconds: float = 300.0
    # The longest one Partner API request can take (connect + read timeout): a POST is sent
    # only on a claim with at least this much (plus the margin) left. `bootstrap` derives it
    # from the HTTP timeouts.
    request_timeout_seconds: float = 20.0
    # How far a worker's reading of the ledger's clock may be off (its `Date` has whole
    # seconds, and answers take time to arrive).
    clock_margin_seconds: float = 2.0
    # After a POST that may have taken effect, the referral is looked up again after each of
    # these delays (ledger time, from the POST or the previous look-up): longer together than
    # the list's consistency window. Only when every look-up came back empty is it POSTed again.
    relookup_delays_seconds: tuple[float, ...] = (30.0, 60.0, 120.0)
    # Look up before the first POST of a key the ledger has never seen: for a ledger that is
    # new while Partner Center may already hold referrals (`referral-relay run --live`).
    lookup_on_first_claim: bool = False
    # connect_referral waits inside its invocation (a subscription takes no scheduled copies):
    # at most this long in all, checking a live holder's claim at least this often.
    max_wait_in_invocation_seconds: float = 240.0
    holder_poll_seconds: float = 10.0

    def __post_init__(self) -> None:
        # A fresh claim must leave one request (and the margin both ways) before it ends.
        if self.claim_ttl_seconds < self.request_timeout_seconds + 2 * self.clock_margin_seconds:
            raise ValueError("claim_ttl_seconds must exceed request_timeout_seconds + margins")
        if not self.relookup_delays_seconds:
            raise ValueError("relookup_delays_seconds needs at least one delay")
        # connect waits inside one invocation: each single wait must fit in it, or every
        # redelivery would abandon at once.
        longest = max(*self.relookup_delays_seconds, self.claim_ttl_seconds)
        if longest + self.clock_margin_seconds > self.max_wait_in_invocation_seconds:
            raise ValueError("max_wait_in_invocation_seconds must fit each single wait")


@dataclass(slots=True)
class HandlerDeps:
    """Everything a handler talks to, built once per worker by `shared.bootstrap`."""

    api: PartnerApi
    ledger: Ledger
    publisher: Publisher
    config: HandlerConfig = field(default_factory=HandlerConfig)
    clock: Clock = field(default_factory=Clock)
    # Monotonic per-key values (update_referral: the last sourceUpdatedAt per referral).
    # `bootstrap` gives the Table Storage adapter, the local host the in-memory one; only
    # update_referral needs them (`marks_of` says so when they are missing).
    marks: Marks | None = None
    # Called after each durable step ("claimed", "posted", "recorded", "published"); the chaos
    # suite raises from it to simulate a worker dying between two steps.
    checkpoint: Checkpoint = _no_checkpoint


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one invocation did, for the local host's report and for telemetry."""

    kind: OutcomeKind
    key: str
    referral_id: str | None = None
    engagement_id: str | None = None
    connected_referral_id: str | None = None
    referral_type: str | None = None
    errors: tuple[FieldError, ...] = ()
    error_code: str | None = None
    attempt: int = 1


CLAIM_BUSY: Final = "claim_busy"  # another worker holds the key's claim right now
CLAIM_LOST: Final = "claim_lost"  # our claim was taken over before we could record
AWAITING_LOOKUP: Final = "awaiting_lookup"  # a POST may have taken effect: look again later


class RetryLater(Exception):
    """Abandon the message so Service Bus redelivers it (delivery count +1)."""

    def __init__(self, reason: str, outcome: Outcome | None = None) -> None:
        super().__init__(f"retry later: {reason}")
        self.reason = reason
        self.outcome = outcome  # what this invocation amounted to, for the report


class DeadLetterRequested(RetryLater):
    """This message lineage has given up: keep abandoning it until Service Bus dead-letters it
    at its max delivery count (we do not depend on preview settlement APIs, design §4)."""


class Postponed(Exception):
    """A reason of the protocol's own to try again later (never a refusal of the message)."""

    CODE: ClassVar[str] = "postponed"


class LookupFailed(Postponed):
    """Looking the referral up failed, whatever the API said (a 400 refusing the filter too):
    a look-up that cannot answer says nothing about the message."""

    CODE: ClassVar[str] = "lookup_failed"


class ReadFailed(Postponed):
    """Our own referral, which Partner Center created, could not be read back."""

    CODE: ClassVar[str] = "read_failed"


class LeaseTooShort(Postponed):
    """The claim has less than one request timeout left even after renewing it."""

    CODE: ClassVar[str] = "claim_too_short"


def marks_of(deps: HandlerDeps) -> Marks:
    if deps.marks is None:
        raise RuntimeError("HandlerDeps.marks is not configured (update_referral needs it)")
    return deps.marks


def new_owner() -> str:
    return uuid.uuid4().hex


def error_code(exc: BaseException) -> str:
    """A stable, non-personal code for an error: the Graph code, else the error class's `CODE`
    (never the class name: renaming a class must not change alert queries)."""
    if isinstance(exc, PartnerApiError) and exc.code:
        return exc.code
    code = getattr(type(exc), "CODE", None)
    return code if isinstance(code, str) else "unexpected_error"


def refusal_errors(exc: PermanentError) -> tuple[FieldError, ...]:
    """A permanent API refusal as field-level errors (the API's own, when it gave them)."""
    if isinstance(exc, InvalidRequest) and exc.errors:
        return tuple(exc.errors)
    message = _REFUSALS.get(type(exc), "Partner Center refused the referral")
    return (FieldError(path="", code=exc.code or error_code(exc), message=message),)


_REFUSALS: Final[dict[type[PartnerApiError], str]] = {
    InvalidRequest: "Partner Center rejected the referral as invalid",
    NotFound: "the referral does not exist in Partner Center",
    PreconditionFailed: "the referral changed in Partner Center meanwhile",
}


def is_transient(exc: BaseException) -> bool:
    """Worth holding the message for: a transient failure, or a configuration problem."""
    from shared.partner_api.errors import TransientError

    # Our own credentials, consent or role failing is about the deployment, not the message:
    # hold it (an operator runs `referral-relay login` or grants the role) rather than reject
    # a good referral.
    return isinstance(exc, TransientError | ConfigurationError | AuthError | Postponed)


def retry_after(exc: BaseException) -> float | None:
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, int | float) else None
