"""A durable ledger in one SQLite file, for `referral-relay run --live` (dev tool, not deployed).

`run --live` posts to a real tenant from a laptop; with the in-memory ledger every run would
start blind and a second run of the same file would create every referral again. This adapter
keeps the ledger between runs, in a file under the user's data directory by default.

Same shape as the Table Storage adapter: one row per (scope, sha256 of the key) — CRM ids stay
out of the file, any string is a valid key — and `rules` decides every claim; this only stores.
Claims run in `BEGIN IMMEDIATE` transactions and updates are compare-and-swap on an ETag column,
so two processes sharing the file still get exactly one winner.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from shared.ledger import rules
from shared.ledger.port import Busy, Claimed, ClaimResult, LedgerConflict, Record, Scope, State

BUSY_TIMEOUT_SECONDS: Final = 10.0
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS ledger (
    scope TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    owner BLOB NOT NULL,
    expires_at REAL NOT NULL,
    lineage BLOB NOT NULL,
    posted INTEGER NOT NULL,
    claims INTEGER NOT NULL,
    referral_id TEXT,
    engagement_id TEXT,
    result TEXT NOT NULL,
    error_code TEXT,
    etag TEXT NOT NULL,
    body_hash TEXT,
    lookups INTEGER NOT NULL,
    not_before REAL NOT NULL,
    PRIMARY KEY (scope, key_hash)
)
"""
_COLUMNS: Final = (
    "state, owner, expires_at, lineage, posted, claims, referral_id, engagement_id, result, "
    "error_code, etag, body_hash, lookups, not_before"
)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class SqliteLedger:
    """The `Ledger` port on a SQLite file. `is_new`: the file held no records when opened (so
    nothing is known about what earlier runs may have posted)."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock  # one laptop: its clock is the ledger's time
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self.is_new = self._db.execute("SELECT COUNT(*) FROM ledger").fetchone()[0] == 0

    async def close(self) -> None:
        self._db.close()

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM ledger").fetchone()[0])

    # -- the port ----------------------------------------------------------------------------
    # Each method runs its SQL without awaiting in between: on one event loop that is atomic,
    # and the transactions make it so across processes.

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
        self._db.execute("BEGIN IMMEDIATE")
        try:
            now = self.now()
            existing = self._read(scope, key)
            fields: dict[str, Any] = {
                "owner": owner,
                "lineage": lineage,
                "ttl": ttl,
                "now": now,
                "body_hash": body_hash,
                "posting": posting,
            }
            if existing is None:
                record = rules.new_claim(scope, key, **fields)
                result: ClaimResult = Claimed(self._insert(record))
            else:
                decision = rules.decide(existing, **fields)
                if isinstance(decision, Record):
                    stored = self._replace(decision, if_etag=existing.etag)
                    result = (
                        Claimed(stored, previous=existing) if stored is not None else Busy(existing)
                    )
                else:
                    result = decision
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return result

    async def mark_posted(self, record: Record, *, ttl: float) -> Record:
        return self._update(record, rules.posted(record, ttl=ttl, now=self.now()))

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
        return self._update(record, updated)

    async def fail(
        self, record: Record, *, error_code: str, result: dict[str, str] | None = None
    ) -> Record:
        return self._update(record, rules.failed(record, error_code=error_code, result=result))

    async def release(
        self,
        record: Record,
        *,
        posted: bool | None = None,
        lookups: int | None = None,
        not_before: float | None = None,
    ) -> Record:
        updated = rules.released(record, posted=posted, lookups=lookups, not_before=not_before)
        return self._update(record, updated)

    async def get(self, scope: Scope, key: str) -> Record | None:
        return self._read(scope, key)

    # -- storage -------------------------------------------------------------------------------

    def _update(self, current: Record, new: Record) -> Record:
        stored = self._replace(new, if_etag=current.etag)
        if stored is None:
            raise LedgerConflict(f"ledger record {current.scope}/… changed under us")
        return stored

    def _read(self, scope: Scope, key: str) -> Record | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM ledger WHERE scope = ? AND key_hash = ?",  # noqa: S608 - constant
            (scope.value, key_hash(key)),
        ).fetchone()
        return None if row is None else _record(scope, key, row)

    def _insert(self, record: Record) -> Record:
        record = _with_new_etag(record)
        self._db.execute(
            f"INSERT INTO ledger (scope, key_hash, {_COLUMNS}) "  # noqa: S608 - constant
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.scope.value, key_hash(record.key), *_values(record)),
        )
        return record

    def _replace(self, record: Record, *, if_etag: str) -> Record | None:
        record = _with_new_etag(record)
        assignments = ", ".join(f"{c.strip()} = ?" for c in _COLUMNS.split(","))
        cursor = self._db.execute(
            f"UPDATE ledger SET {assignments} "  # noqa: S608 - constant
            "WHERE scope = ? AND key_hash = ? AND etag = ?",
            (*_values(record), record.scope.value, key_hash(record.key), if_etag),
        )
        return record if cursor.rowcount == 1 else None


def _with_new_etag(record: Record) -> Record:
    from dataclasses import replace

    return replace(record, etag=uuid.uuid4().hex)


def _blob(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # MessageIds may hold anything JSON allows


def _values(record: Record) -> tuple[Any, ...]:
    return (
        record.state.value,
        _blob(record.owner),
        record.expires_at,
        _blob(record.lineage),
        int(record.posted),
        record.claims,
        record.referral_id,
        record.engagement_id,
        json.dumps(record.result, ensure_ascii=False),
        record.error_code,
        record.etag,
        record.body_hash,
        record.lookups,
        record.not_before,
    )


def _record(scope: Scope, key: str, row: tuple[Any, ...]) -> Record:
    (
        state,
        owner,
        expires_at,
        lineage,
        posted,
        claims,
        referral,
        engagement,
        result,
        code,
        etag,
    ) = row[:11]
    body_hash, lookups, not_before = row[11:]
    return Record(
        scope=scope,
        key=key,
        state=State(state),
        owner=bytes(owner).decode("utf-8", "surrogatepass"),
        expires_at=float(expires_at),
        lineage=bytes(lineage).decode("utf-8", "surrogatepass"),
        posted=bool(posted),
        claims=int(claims),
        referral_id=referral,
        engagement_id=engagement,
        result=json.loads(result),
        error_code=code,
        etag=etag,
        body_hash=body_hash,
        lookups=int(lookups),
        not_before=float(not_before),
    )
