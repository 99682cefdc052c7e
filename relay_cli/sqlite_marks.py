"""The Marks port in the SQLite file of `run --live` (dev tool, not deployed), beside the ledger.

`run --live` keeps its ledger between runs; the update watermark must live as long, or a stale
update sent in a later run would be applied. Same file as `sqlite_ledger.py`, its own table;
keys are hashed as there. `advance` is one `UPDATE … WHERE value < ?` (or an insert) in a
`BEGIN IMMEDIATE` transaction, so two processes sharing the file never move a mark backwards.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

from relay_cli.sqlite_ledger import BUSY_TIMEOUT_SECONDS, key_hash

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS marks (
    scope TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (scope, key_hash)
)
"""


class SqliteMarks:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    async def close(self) -> None:
        self._db.close()

    async def get(self, scope: str, key: str) -> str | None:
        row = self._db.execute(
            "SELECT value FROM marks WHERE scope = ? AND key_hash = ?", (scope, key_hash(key))
        ).fetchone()
        return None if row is None else str(row[0])

    async def advance(self, scope: str, key: str, value: str) -> bool:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            cursor = self._db.execute(
                "INSERT INTO marks (scope, key_hash, value) VALUES (?, ?, ?) "
                "ON CONFLICT (scope, key_hash) DO UPDATE SET value = excluded.value "
                "WHERE marks.value < excluded.value",
                (scope, key_hash(key), value),
            )
            moved = cursor.rowcount == 1
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return moved
