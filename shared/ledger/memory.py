"""In-memory ledger: a real implementation of the port for the local host, tests and benches.

Its clock is injected (`clock`, default `time.time`): the local host passes the broker's, whose
time warp then moves claim expiries too; tests pass a fake one to model a ledger whose time
differs from every worker's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import Callable

from shared.ledger import rules
from shared.ledger.port import Claimed, ClaimResult, LedgerConflict, Record, Scope


class InMemoryLedger:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._records: dict[tuple[Scope, str], Record] = {}
        self._etags = itertools.count(1)
        self._lock = asyncio.Lock()
        self.clock = clock

    def now(self) -> float:
        return self.clock()

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
        async with self._lock:
            now = self.now()
            existing = self._records.get((scope, key))
            if existing is None:
                record = rules.new_claim(
                    scope,
                    key,
                    owner=owner,
                    lineage=lineage,
                    ttl=ttl,
                    now=now,
                    body_hash=body_hash,
                    posting=posting,
                )
                return Claimed(self._store(record))
            decision = rules.decide(
                existing,
                owner=owner,
                lineage=lineage,
                ttl=ttl,
                now=now,
                body_hash=body_hash,
                posting=posting,
            )
            if isinstance(decision, Record):
                return Claimed(self._store(decision), previous=existing)
            return decision

    async def mark_posted(self, record: Record, *, ttl: float) -> Record:
        return await self._update(record, lambda: rules.posted(record, ttl=ttl, now=self.now()))

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
        return await self._update(record, lambda: updated)

    async def fail(
        self, record: Record, *, error_code: str, result: dict[str, str] | None = None
    ) -> Record:
        updated = rules.failed(record, error_code=error_code, result=result)
        return await self._update(record, lambda: updated)

    async def release(
        self,
        record: Record,
        *,
        posted: bool | None = None,
        lookups: int | None = None,
        not_before: float | None = None,
    ) -> Record:
        updated = rules.released(record, posted=posted, lookups=lookups, not_before=not_before)
        return await self._update(record, lambda: updated)

    async def get(self, scope: Scope, key: str) -> Record | None:
        return self._records.get((scope, key))

    def records(self) -> list[Record]:
        return list(self._records.values())

    async def _update(self, current: Record, new: Callable[[], Record]) -> Record:
        async with self._lock:
            stored = self._records.get((current.scope, current.key))
            if stored is None or stored.etag != current.etag:
                raise LedgerConflict(f"ledger record {current.scope}/… changed under us")
            return self._store(new())

    def _store(self, record: Record) -> Record:
        record = dataclasses.replace(record, etag=str(next(self._etags)))
        self._records[(record.scope, record.key)] = record
        return record
