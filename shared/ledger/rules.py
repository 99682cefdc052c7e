"""Claim decisions, shared by every ledger adapter: adapters only store, this decides.

`now` is always the ledger's own clock (`Ledger.now()`), read after the storage call that
fetched the record it is compared with.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from shared.ledger.port import (
    AlreadyCompleted,
    AlreadyFailed,
    Busy,
    ClaimResult,
    KeyReused,
    Record,
    Scope,
    State,
)

# Result key naming the lineage whose give-up a later success of the same key replaces.
SUPERSEDES: Final = "supersedes"


def new_claim(
    scope: Scope,
    key: str,
    *,
    owner: str,
    lineage: str,
    ttl: float,
    now: float,
    body_hash: str | None = None,
    posting: bool = False,
) -> Record:
    return Record(
        scope=scope,
        key=key,
        state=State.IN_PROGRESS,
        owner=owner,
        expires_at=now + ttl,
        lineage=lineage,
        posted=posting,
        body_hash=body_hash,
    )


def decide(
    existing: Record,
    *,
    owner: str,
    lineage: str,
    ttl: float,
    now: float,
    body_hash: str | None = None,
    posting: bool = False,
) -> ClaimResult | Record:
    """What to do with an existing record: a final answer, or the record to write over it
    (guarded by `existing.etag`)."""
    if existing.state is State.FAILED and existing.lineage == lineage:
        return AlreadyFailed(existing)
    live = existing.state is State.IN_PROGRESS and existing.expires_at > now
    if _reused(existing, body_hash, live=live and existing.owner != owner):
        return KeyReused(existing)
    if existing.state is State.COMPLETED:
        return AlreadyCompleted(existing)
    if live and existing.owner != owner:
        return Busy(existing)
    result = dict(existing.result)
    if existing.state is State.FAILED:  # a fresh publish retries what another one gave up
        result[SUPERSEDES] = existing.lineage
    return dataclasses.replace(
        existing,
        state=State.IN_PROGRESS,
        owner=owner,
        expires_at=now + ttl,
        lineage=lineage,
        claims=existing.claims + 1,
        error_code=None,
        posted=existing.posted or posting,
        body_hash=body_hash or existing.body_hash,
        result=result,
    )


def _reused(existing: Record, body_hash: str | None, *, live: bool) -> bool:
    """Another body under the same key, while a referral may exist (or be underway) for the
    first one. A key whose first body certainly created nothing is free for a corrected one."""
    if body_hash is None or existing.body_hash is None or body_hash == existing.body_hash:
        return False
    return existing.state is State.COMPLETED or existing.posted or live


def completed(
    record: Record, *, referral_id: str, engagement_id: str | None, result: dict[str, str] | None
) -> Record:
    return dataclasses.replace(
        record,
        state=State.COMPLETED,
        referral_id=referral_id,
        engagement_id=engagement_id,
        result=dict(result or {}),
    )


def failed(record: Record, *, error_code: str, result: dict[str, str] | None = None) -> Record:
    merged = {**record.result, **(result or {})}
    return dataclasses.replace(record, state=State.FAILED, error_code=error_code, result=merged)


def released(
    record: Record,
    *,
    posted: bool | None = None,
    lookups: int | None = None,
    not_before: float | None = None,
) -> Record:
    return dataclasses.replace(
        record,
        expires_at=0.0,
        posted=record.posted if posted is None else posted,
        lookups=record.lookups if lookups is None else lookups,
        not_before=record.not_before if not_before is None else not_before,
    )


def posted(record: Record, *, ttl: float, now: float) -> Record:
    return dataclasses.replace(record, posted=True, lookups=0, expires_at=now + ttl)
