"""In-memory ledger: a real implementation of the port for the local host, tests and benches."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools

from shared.ledger import rules
from shared.ledger.port import Claimed, ClaimResult, LedgerConflict, Record, Scope


class InMemoryLedger:
    def __init__(self) -> None:
        self._records: dict[tuple[Scope, str], Record] = {}
        self._etags = itertools.count(1)
        self._lock = asyncio.Lock()

    async def claim(
        self, scope: Scope, key: str, *, owner: str, lineage: str, ttl: float, now: float
    ) -> ClaimResult:
        async with self._lock:
            existing = self._records.get((scope, key))
            if existing is None:
                record = rules.new_claim(scope, key, owner=owner, lineage=lineage, ttl=ttl, now=now)
                return Claimed(self._store(record))
            decision = rules.decide(existing, owner=owner, lineage=lineage, ttl=ttl, now=now)
            if isinstance(decision, Record):
                return Claimed(self._store(decision))
            return decision

    async def mark_posted(self, record: Record) -> Record:
        return await self._update(record, rules.posted(record))

    async def complete(
        self,
        record: Record,
        *,
        referral_id: str,
        engagement_id: str | None,
        result: dict[str, str] | None = None,
    ) -> Record:
        updated = rules.completed(
            record, referral_id=referral_id, engagement_id=engagement_id, result=result
        )
        return await self._update(record, updated)

    async def fail(self, record: Record, *, error_code: str) -> Record:
        return await self._update(record, rules.failed(record, error_code=error_code))

    async def release(self, record: Record) -> Record:
        return await self._update(record, rules.released(record))

    async def get(self, scope: Scope, key: str) -> Record | None:
        return self._records.get((scope, key))

    def records(self) -> list[Record]:
        return list(self._records.values())

    async def _update(self, current: Record, new: Record) -> Record:
        async with self._lock:
            stored = self._records.get((current.scope, current.key))
            if stored is None or stored.etag != current.etag:
                raise LedgerConflict(f"ledger record {current.scope}/… changed under us")
            return self._store(new)

    def _store(self, record: Record) -> Record:
        record = dataclasses.replace(record, etag=str(next(self._etags)))
        self._records[(record.scope, record.key)] = record
        return record
