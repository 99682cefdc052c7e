"""The idempotency ledger port (design §4): one record per (scope, key).

States: `in-progress` (claimed by one worker until `expires_at`), `completed` (with the referral
ids), `failed` (gave up after the retry budget, for one message lineage). A record also remembers
whether a POST may have been sent under it (`posted`): only then must a later attempt look the
referral up before creating, because the Partner API has no idempotency token.

Adapters implement insert-if-absent and ETag-guarded updates; a lost race surfaces as `Busy`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Scope(StrEnum):
    CREATE = "create"  # keyed on externalReferenceId, else MessageId
    CONNECT = "connect"  # keyed on the engagement id


class State(StrEnum):
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Record:
    scope: Scope
    key: str
    state: State
    owner: str  # the claim token of the worker that holds or last held it
    expires_at: float  # epoch seconds; an in-progress claim past it may be taken over
    lineage: str  # original MessageId of the message that last claimed it
    posted: bool = False
    claims: int = 1
    referral_id: str | None = None
    engagement_id: str | None = None
    result: dict[str, str] = field(default_factory=dict)  # e.g. connectedReferralId
    error_code: str | None = None
    etag: str = ""


@dataclass(frozen=True, slots=True)
class Claimed:
    """We hold the key. `may_have_posted`: an earlier holder may already have created it."""

    record: Record

    @property
    def may_have_posted(self) -> bool:
        return self.record.posted


@dataclass(frozen=True, slots=True)
class AlreadyCompleted:
    record: Record


@dataclass(frozen=True, slots=True)
class AlreadyFailed:
    """This message lineage already gave up: drive the message to the dead-letter queue."""

    record: Record


@dataclass(frozen=True, slots=True)
class Busy:
    """A live claim by another worker, or a lost update race: retry later."""

    record: Record | None


ClaimResult = Claimed | AlreadyCompleted | AlreadyFailed | Busy


class LedgerConflict(Exception):
    """Our claim was taken over (ETag mismatch) before we could update it."""


class Ledger(Protocol):
    async def claim(
        self, scope: Scope, key: str, *, owner: str, lineage: str, ttl: float, now: float
    ) -> ClaimResult:
        """Insert an in-progress record, or take over an expired/released one, or report why
        not. A `failed` record of another lineage is taken over (a fresh publish retries)."""
        ...

    async def mark_posted(self, record: Record) -> Record:
        """Record, before the POST, that a POST may happen under this claim."""
        ...

    async def complete(
        self,
        record: Record,
        *,
        referral_id: str,
        engagement_id: str | None,
        result: dict[str, str] | None = None,
    ) -> Record: ...

    async def fail(self, record: Record, *, error_code: str) -> Record: ...

    async def release(self, record: Record) -> Record:
        """Give the claim up early (a transient failure): the next attempt need not wait for
        the expiry. Keeps `posted`."""
        ...

    async def get(self, scope: Scope, key: str) -> Record | None: ...
