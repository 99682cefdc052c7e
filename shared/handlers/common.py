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
    return isinstance(exc, TransientError | ConfigurationError | AuthError)


def retry_after(exc: BaseException) -> float | None:
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, int | float) else None
