"""The ledger `run --live` keeps between runs, and the look-up it owes a live tenant.

`--ledger` takes a SQLite file path (default: `ledger.sqlite3` in the user's data directory, via
platformdirs), an `https://…` Table Storage URL (signed in with DefaultAzureCredential), or a
Table Storage / Azurite connection string.

A ledger that knows nothing (a new file, or a new machine) cannot tell whether an earlier run
already created a referral: then every first claim is marked `posted`, so the handlers look the
referral up by its key before the first POST (`HandlerConfig.lookup_on_first_claim`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from shared.ledger.marks import Marks
from shared.ledger.port import Ledger
from shared.names import LEDGER_TABLE

APP_NAME: Final = "referral-relay"
SQLITE_FILE: Final = "ledger.sqlite3"


def default_ledger_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / SQLITE_FILE


@dataclass(frozen=True, slots=True)
class OpenLedger:
    ledger: Ledger
    description: str  # for the confirmation prompt: where the ledger lives (no secrets)
    is_new: bool  # holds no record yet: look up before every first POST
    marks: Marks  # beside the ledger, as long-lived (update_referral's stale-update watermark)


@asynccontextmanager
async def open_ledger(spec: str | None) -> AsyncIterator[OpenLedger]:
    """The ledger `spec` names (see the module docstring), closed when the block ends."""
    if spec and (spec.startswith("https://") or "AccountName=" in spec or "Development" in spec):
        from shared.ledger.marks_table import TableMarks
        from shared.ledger.table import TableLedger
        from shared.settings import Settings

        if spec.startswith("https://"):
            settings = Settings.model_construct(ledger_table_url=spec, ledger_table=LEDGER_TABLE)
            table = TableLedger.from_settings(settings)
            where = f"Table Storage {spec}"
        else:
            table = TableLedger.from_connection_string(spec, LEDGER_TABLE)
            where = "Table Storage (connection string)"
        try:
            # A shared table may hold other runs' records: a cheap probe cannot tell, so a
            # table is treated as new (look up first) — the safe side of not knowing.
            yield OpenLedger(table, where, is_new=True, marks=TableMarks(table))
        finally:
            await table.close()
        return
    from relay_cli.sqlite_ledger import SqliteLedger
    from relay_cli.sqlite_marks import SqliteMarks

    sqlite = SqliteLedger(Path(spec) if spec else default_ledger_path())
    marks = SqliteMarks(sqlite.path)  # the same file, its own table
    try:
        yield OpenLedger(sqlite, f"SQLite {sqlite.path}", is_new=sqlite.is_new, marks=marks)
    finally:
        await marks.close()
        await sqlite.close()
