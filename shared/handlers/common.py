"""What both handlers share: dependencies, outcomes, retry decisions and error mapping."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, Literal

from shared.auth.errors import AuthError
from shared.contracts.errors import FieldError
from shared.ledger.port import Ledger
from shared.partner_api.errors import (
    AccessDenied,
    InvalidRequest,
    NotFound,
    PartnerApiError,
    PermanentError,
    PreconditionFailed,
    Unauthenticated,
)
from shared.partner_api.port import PartnerApi
from shared.publishing.port import Publisher

OutcomeKind = Literal[
    "created", "connected", "duplicate", "rejected", "rescheduled", "failed", "skipped"
]


class Clock:
    """Wall time for ledger expiries, monotonic time for deadlines; tests pass a fake."""

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


@dataclass(slots=True)
class HandlerDeps:
    """Everything a handler talks to, built once per worker by `shared.bootstrap`."""

    api: PartnerApi
    ledger: Ledger
    publisher: Publisher
    config: HandlerConfig = field(default_factory=HandlerConfig)
    clock: Clock = field(default_factory=Clock)
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


class RetryLater(Exception):
    """Abandon the message so Service Bus redelivers it (delivery count +1)."""

    def __init__(self, reason: str, outcome: Outcome | None = None) -> None:
        super().__init__(f"retry later: {reason}")
        self.reason = reason
        self.outcome = outcome  # what this invocation amounted to, for the report


class DeadLetterRequested(RetryLater):
    """This message lineage has given up: keep abandoning it until Service Bus dead-letters it
    at its max delivery count (we do not depend on preview settlement APIs, design §4)."""


def new_owner() -> str:
    return uuid.uuid4().hex


def error_code(exc: BaseException) -> str:
    """A stable, non-personal code for an error: the Graph code, or a name for the kind."""
    if isinstance(exc, PartnerApiError) and exc.code:
        return exc.code
    names: Final = {
        "Throttled": "throttled",
        "ServiceUnavailable": "unavailable",
        "NetworkError": "network",
        "RequestTimedOut": "timeout",
    }
    return names.get(type(exc).__name__, type(exc).__name__)


def refusal_errors(exc: PermanentError) -> tuple[FieldError, ...]:
    """A permanent API refusal as field-level errors (the API's own, when it gave them)."""
    if isinstance(exc, InvalidRequest) and exc.errors:
        return tuple(exc.errors)
    message = _REFUSALS.get(type(exc), "Partner Center refused the referral")
    return (FieldError(path="", code=exc.code or error_code(exc), message=message),)


_REFUSALS: Final[dict[type[PartnerApiError], str]] = {
    InvalidRequest: "Partner Center rejected the referral as invalid",
    Unauthenticated: "Partner Center did not accept our sign-in",
    AccessDenied: "the signed-in user lacks the Referrals Admin role",
    NotFound: "the referral does not exist in Partner Center",
    PreconditionFailed: "the referral changed in Partner Center meanwhile",
}


def is_transient(exc: BaseException) -> bool:
    from shared.partner_api.errors import TransientError

    if isinstance(exc, TransientError):
        return True
    # Our own credentials failing is about the deployment, not the message: retry it later
    # (an operator runs `referral-relay login`) rather than reject a good referral.
    return isinstance(exc, AuthError)


def retry_after(exc: BaseException) -> float | None:
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, int | float) else None
