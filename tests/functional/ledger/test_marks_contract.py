"""The Marks contract against every adapter: in-memory, SQLite (`run --live`), Table Storage on
Azurite (the deployed one, in the ledger's table)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay_cli.sqlite_marks import SqliteMarks
from shared.ledger.marks import InMemoryMarks, Marks
from shared.ledger.marks_table import TableMarks
from shared.ledger.port import Scope
from shared.ledger.table import TableLedger
from tests.support.azurite import unique_table_name

EARLY, LATE = "2027-01-01T00:00:00.000000Z", "2027-01-02T00:00:00.000000Z"


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("table", marks=pytest.mark.azurite)],
    ids=["memory", "sqlite", "table-azurite"],
)
async def marks(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Marks]:
    if request.param == "memory":
        yield InMemoryMarks()
    elif request.param == "sqlite":
        sqlite = SqliteMarks(tmp_path / "ledger.sqlite3")
        yield sqlite
        await sqlite.close()
    else:
        connection_string: str = request.getfixturevalue("azurite_table")
        ledger = TableLedger.from_connection_string(connection_string, unique_table_name("marks"))
        yield TableMarks(ledger)
        await ledger.close()


async def test_a_mark_only_moves_forward(marks: Marks) -> None:
    assert await marks.get("update-applied", "r-1") is None
    assert await marks.advance("update-applied", "r-1", EARLY)
    assert await marks.advance("update-applied", "r-1", LATE)
    assert not await marks.advance("update-applied", "r-1", EARLY)
    assert not await marks.advance("update-applied", "r-1", LATE)  # equal does not move
    assert await marks.get("update-applied", "r-1") == LATE


async def test_scopes_and_keys_are_apart_and_any_key_is_fine(marks: Marks) -> None:
    odd = "crm/1#?\\\u00e9" + "x" * 600
    assert await marks.advance("update-applied", odd, EARLY)
    assert await marks.get("update-gave-up", odd) is None
    assert await marks.get("update-applied", "other") is None
    assert await marks.get("update-applied", odd) == EARLY


async def test_racing_advances_leave_the_greatest(marks: Marks) -> None:
    values = [f"2027-01-{day:02d}T00:00:00.000000Z" for day in range(1, 11)]
    moved = await asyncio.gather(*(marks.advance("update-applied", "r-9", v) for v in values))
    assert await marks.get("update-applied", "r-9") == values[-1]
    assert moved[-1] or any(moved)


@pytest.mark.azurite
async def test_table_marks_share_the_ledger_table_without_touching_its_records(
    azurite_table: str,
) -> None:
    ledger = TableLedger.from_connection_string(azurite_table, unique_table_name("shared"))
    try:
        claim = await ledger.claim(Scope.CREATE, "r-1", owner="o", lineage="m", ttl=60)
        marks = TableMarks(ledger)
        assert await marks.advance(Scope.CREATE.value, "r-1", LATE)  # same scope and key text
        record = await ledger.get(Scope.CREATE, "r-1")
        assert record is not None
        assert record.etag == claim.record.etag  # type: ignore[union-attr]
    finally:
        await ledger.close()
