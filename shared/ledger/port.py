"""The idempotency ledger port (design §4): one record per (scope, key).

States: `in-progress` (claimed by one worker until `expires_at`), `completed` (with the referral
ids), `failed` (gave up after the attempts, for one message lineage). A record also remembers
whether a POST may have been sent under it (`posted`): only then must a later attempt look the
referral up before creating, because the Partner API has no idempotency token.

Time is the ledger's own (`Ledger.now()`: the storage service's clock, never this instance's):
`expires_at` and `not_before` are on it, so a worker whose wall clock is minutes off can neither
take over a live claim nor keep one it lost. Adapters implement insert-if-absent and
ETag-guarded updates; a lost race surfaces as `Busy`, a write over a changed record as
`LedgerConflict`.
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
    expires_at: float  # ledger time; an in-progress claim past it may be taken over
    lineage: str  # original MessageId of the message that last claimed it
    posted: bool = False  # a POST may have been sent under this key
    claims: int = 1
    referral_id: str | None = None
    engagement_id: str | None = None
    result: dict[str, str] = field(default_factory=dict)  # e.g. referralType, supersedes
    error_code: str | None = None
    # sha256 of the canonical body first claimed under the key (never the body itself)
    body_hash: str | None = None
    lookups: int = 0  # look-ups that came back empty since the last POST mark
    not_before: float = 0.0  # ledger time before which the next look-up must not run
    etag: str = ""


@dataclass(frozen=True, slots=True)
class Claimed:
    """We hold the key. `previous`: the record we took over (None for a new key)."""

    record: Record
    previous: Record | None = None

    @property
    def may_have_posted(self) -> bool:
        """An earlier holder may already have created it: look it up before any POST."""
        return self.previous is not None and self.previous.posted


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


@dataclass(frozen=True, slots=True)
class KeyReused:
    """The key was claimed for a different body, and a referral may exist for that one."""

    record: Record


ClaimResult = Claimed | AlreadyCompleted | AlreadyFailed | Busy | KeyReused


class LedgerConflict(Exception):
    """Our claim was taken over (ETag mismatch) before we could update it."""


class Ledger(Protocol):
    def now(self) -> float:
        """The ledger's clock, epoch seconds (the storage service's, not this instance's)."""
        ...

    async def claim(
        self,
        scope: Scope,
        key: str,
        *,
        owner: str,
        lineage: str,
        ttl: float,
        body_hash: str | None = None,
        posting: bool = False,
    ) -> ClaimResult:
        """Insert an in-progress record expiring `ttl` seconds after the write, take over an
        expired/released one, or report why not. A `failed` record of another lineage is taken
        over (a fresh publish retries). `posting`: the claim write also marks `posted` (the
        caller POSTs next), saving a `mark_posted` round trip."""
        ...

    async def mark_posted(self, record: Record, *, ttl: float) -> Record:
        """Record, before a POST, that a POST may happen; renews the claim for `ttl` seconds
        and restarts the look-up count."""
        ...

    async def complete(
        self,
        record: Record,
        *,
        referral_id: str,
        engagement_id: str | None,
        result: dict[str, str] | None = None,
    ) -> Record: ...

    async def fail(
        self, record: Record, *, error_code: str, result: dict[str, str] | None = None
    ) -> Record: ...

    async def release(
        self,
        record: Record,
        *,
        posted: bool | None = None,
        lookups: int | None = None,
        not_before: float | None = None,
    ) -> Record:
        """Give the claim up early: the next attempt need not wait for the expiry. Keeps
        `posted`, `lookups` and `not_before` unless given (the holder knows better)."""
        ...

    async def get(self, scope: Scope, key: str) -> Record | None: ...
