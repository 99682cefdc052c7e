"""The `Ledger` contract (test_contract.py) run against the SQLite ledger of `run --live`, plus
what only a file can show: records survive a reopen, and two connections to one file still get
exactly one winner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay_cli.sqlite_ledger import SqliteLedger
from shared.ledger.port import AlreadyCompleted, Busy, Claimed, Ledger, Scope
from tests.functional.ledger.test_contract import *  # noqa: F403 - the contract's tests, rerun here
from tests.functional.ledger.test_contract import KEY, LIVE


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    sqlite = SqliteLedger(tmp_path / "ledger.sqlite3")
    try:
        yield sqlite
    finally:
        await sqlite.close()


async def test_records_survive_closing_and_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "ledger.sqlite3"
    first = SqliteLedger(path)
    assert first.is_new
    claim = await first.claim(Scope.CREATE, KEY, owner="run-1", lineage="m1", ttl=LIVE)
    assert isinstance(claim, Claimed)
    await first.complete(claim.record, referral_id="ref-1", engagement_id="eng-1")
    await first.close()

    second = SqliteLedger(path)
    again = await second.claim(Scope.CREATE, KEY, owner="run-2", lineage="m2", ttl=LIVE)
    await second.close()

    assert not second.is_new
    assert isinstance(again, AlreadyCompleted)
    assert (again.record.referral_id, again.record.engagement_id) == ("ref-1", "eng-1")


async def test_the_file_holds_no_key_in_clear(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    sqlite = SqliteLedger(path)
    await sqlite.claim(Scope.CREATE, "crm-secret-id-42", owner="o", lineage="m", ttl=LIVE)
    await sqlite.close()

    assert b"crm-secret-id-42" not in _all_bytes(tmp_path)


async def test_two_connections_to_one_file_get_one_winner(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    one, two = SqliteLedger(path), SqliteLedger(path)
    try:
        first = await one.claim(Scope.CREATE, KEY, owner="a", lineage="m1", ttl=LIVE)
        second = await two.claim(Scope.CREATE, KEY, owner="b", lineage="m2", ttl=LIVE)
        assert isinstance(first, Claimed)
        assert isinstance(second, Busy)
        assert second.record == first.record
    finally:
        await one.close()
        await two.close()


def _all_bytes(folder: Path) -> bytes:
    """The database and its WAL/SHM side files."""
    return b"".join(p.read_bytes() for p in folder.iterdir() if p.is_file())
