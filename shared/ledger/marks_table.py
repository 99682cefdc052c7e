"""The Marks port on Azure Table Storage: the ledger's own table, one entity per (scope, key).

    PartitionKey   "mark-" + the scope (the ledger's partitions are "create" and "connect")
    RowKey         sha256 of the key (the key itself is not stored, as in the ledger)
    value          the mark

`advance` is a compare-and-set: insert-if-absent, else replace only if the entity's ETag is
the one read (a lost race reads again), so two workers can never move a mark backwards.
Sharing the ledger's table means sharing its client, its bounded SDK timeouts and its role
assignment (Storage Table Data Contributor on that table): no new resource to deploy.
"""

from __future__ import annotations

from typing import Any, Final

from shared.ledger.table import TableLedger, row_key

PARTITION_PREFIX: Final = "mark-"
MAX_RACES: Final = 16  # lost compare-and-sets in a row before giving up (never seen in practice)


class MarksRaceLost(Exception):
    """Every compare-and-set lost a race: the host abandons, the message comes back."""

    CODE = "marks_contended"


class TableMarks:
    def __init__(self, ledger: TableLedger) -> None:
        self._ledger = ledger

    async def get(self, scope: str, key: str) -> str | None:
        entity = await self._read(scope, key)
        return None if entity is None else str(entity["value"])

    async def advance(self, scope: str, key: str, value: str) -> bool:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
        from azure.data.tables import UpdateMode

        client = await self._ledger.table_client()
        entity = {"PartitionKey": PARTITION_PREFIX + scope, "RowKey": row_key(key), "value": value}
        for _ in range(MAX_RACES):
            stored = await self._read(scope, key)
            if stored is None:
                try:
                    await client.create_entity(entity, raw_response_hook=self._ledger.observe)
                except ResourceExistsError:
                    continue  # another worker inserted first: compare with its value
                return True
            if str(stored["value"]) >= value:
                return False
            try:
                await client.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=stored.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                    raw_response_hook=self._ledger.observe,
                )
            except ResourceModifiedError:
                continue  # moved under us: compare again
            return True
        raise MarksRaceLost(f"mark {scope}/… kept changing under us")

    async def _read(self, scope: str, key: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        client = await self._ledger.table_client()
        try:
            return await client.get_entity(
                PARTITION_PREFIX + scope, row_key(key), raw_response_hook=self._ledger.observe
            )
        except ResourceNotFoundError:
            return None
