"""Claim decisions, shared by every ledger adapter: adapters only store, this decides."""

from __future__ import annotations

import dataclasses

from shared.ledger.port import (
    AlreadyCompleted,
    AlreadyFailed,
    Busy,
    ClaimResult,
    Record,
    Scope,
    State,
)


def new_claim(
    scope: Scope, key: str, *, owner: str, lineage: str, ttl: float, now: float
) -> Record:
    return Record(
        scope=scope,
        key=key,
        state=State.IN_PROGRESS,
        owner=owner,
        expires_at=now + ttl,
        lineage=lineage,
    )


def decide(
    existing: Record, *, owner: str, lineage: str, ttl: float, now: float
) -> ClaimResult | Record:
    """What to do with an existing record: a final answer, or the record to write over it
    (guarded by `existing.etag`)."""
    if existing.state is State.COMPLETED:
        return AlreadyCompleted(existing)
    if existing.state is State.FAILED and existing.lineage == lineage:
        return AlreadyFailed(existing)
    live = existing.state is State.IN_PROGRESS and existing.expires_at > now
    if live and existing.owner != owner:
        return Busy(existing)
    return dataclasses.replace(
        existing,
        state=State.IN_PROGRESS,
        owner=owner,
        expires_at=now + ttl,
        lineage=lineage,
        claims=existing.claims + 1,
        error_code=None,
    )


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


def failed(record: Record, *, error_code: str) -> Record:
    return dataclasses.replace(record, state=State.FAILED, error_code=error_code)


def released(record: Record) -> Record:
    return dataclasses.replace(record, expires_at=0.0)


def posted(record: Record) -> Record:
    return dataclasses.replace(record, posted=True)
