"""The ledger contract runs against every adapter: in-memory, and Table Storage on Azurite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.ledger.memory import InMemoryLedger
from shared.ledger.port import Ledger
from shared.ledger.table import TableLedger
from tests.support.azurite import unique_table_name

__all__ = ["ledger"]


@pytest.fixture(
    params=["memory", pytest.param("table", marks=pytest.mark.azurite)],
    ids=["memory", "table-azurite"],
)
async def ledger(request: pytest.FixtureRequest) -> AsyncIterator[Ledger]:
    if request.param == "memory":
        yield InMemoryLedger()
        return
    connection_string: str = request.getfixturevalue("azurite_table")
    table = TableLedger.from_connection_string(connection_string, unique_table_name("ledger"))
    try:
        yield table
    finally:
        await table.close()
