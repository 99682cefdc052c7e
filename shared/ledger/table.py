"""Azure Table Storage ledger: the deployed implementation of the port (design §4).

One entity per (scope, key):

    PartitionKey   the scope ("create" | "connect")
    RowKey         sha256 of the key (UTF-8), 64 hex digits — the key itself is not stored
    state, owner, expires_at, lineage, posted, claims,
    referral_id, engagement_id, error_code        the `Record` fields of the same name
    result         `Record.result` as a JSON object string

The record's `etag` is the entity's ETag. A claim is `create_entity` (insert-if-absent); a lost
insert reads the winner and lets `rules.decide` answer; takeovers and updates replace the entity
only if its ETag is unchanged. An ETag mismatch is `Busy` for a claim, `LedgerConflict` for an
update. Adapters only store: every decision is `rules`'.

Why hash the key: Table keys forbid `/ \\ # ?` and control characters and stop at 1 KiB, while an
externalReferenceId may hold anything. A digest is always valid, fixed-size, and keeps CRM ids
out of the table and out of request URLs (and so out of SDK errors and logs). Every operation is
handed the key, so nothing needs to read it back; to find a key's entity, hash it (`row_key`).

The Azure SDKs are imported on first use, not at import time (cold start).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shared.ledger import rules
from shared.ledger.port import Busy, Claimed, ClaimResult, LedgerConflict, Record, Scope, State

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.data.tables.aio import TableClient

    from shared.settings import Settings

_log = logging.getLogger("referral_relay.ledger")  # under our root: scrubbed and exported


def row_key(key: str) -> str:
    """The RowKey of `key`. `surrogatepass`: any Python str (even a lone surrogate from JSON)
    has a digest."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class TableLedger:
    """The ledger on one Azure table, through an `azure.data.tables.aio.TableClient`.

    Build it once per worker process (`from_settings`); the table is created, if missing, on
    first use and never checked again.
    """

    def __init__(self, client: TableClient, *, credential: AsyncTokenCredential | None = None):
        """`credential`: one this ledger owns and closes after the client (from_settings)."""
        self._client = client
        self._credential = credential
        self._table_ready = False
        self._table_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> TableLedger:
        """Azurite (or any account) through `RELAY_LEDGER_CONNECTION_STRING` when set — a
        development setting the deployment never sets — else `RELAY_LEDGER_TABLE_URL` with the
        managed identity (`AZURE_CLIENT_ID`), or `DefaultAzureCredential` without one."""
        from shared.settings import SettingsError

        if settings.ledger_connection_string:
            return cls.from_connection_string(
                settings.ledger_connection_string, settings.ledger_table
            )
        if not settings.ledger_table_url:
            raise SettingsError(
                [
                    (
                        "RELAY_LEDGER_TABLE_URL",
                        "required (or RELAY_LEDGER_CONNECTION_STRING for Azurite)",
                    )
                ]
            )
        from azure.data.tables.aio import TableClient

        from shared.identity import azure_credential

        credential = azure_credential(settings.managed_identity_client_id)
        client = TableClient(
            endpoint=settings.ledger_table_url,
            table_name=settings.ledger_table,
            credential=credential,
        )
        return cls(client, credential=credential)

    @classmethod
    def from_connection_string(
        cls, connection_string: str, table_name: str, **client_options: Any
    ) -> TableLedger:
        """`client_options` go to the SDK client (e.g. `raw_request_hook`)."""
        from azure.data.tables.aio import TableClient

        return cls(
            TableClient.from_connection_string(connection_string, table_name, **client_options)
        )

    @property
    def table_name(self) -> str:
        return self._client.table_name

    async def close(self) -> None:
        await self._client.close()
        if self._credential is not None:
            await self._credential.close()
            self._credential = None

    # -- the port ----------------------------------------------------------------------------

    async def claim(
        self, scope: Scope, key: str, *, owner: str, lineage: str, ttl: float, now: float
    ) -> ClaimResult:
        from azure.core.exceptions import ResourceExistsError

        client = await self._table()
        record = rules.new_claim(scope, key, owner=owner, lineage=lineage, ttl=ttl, now=now)
        try:
            written = await client.create_entity(_entity(record))
        except ResourceExistsError:
            pass
        else:
            return Claimed(dataclasses.replace(record, etag=_etag(written)))
        existing = await self._read(scope, key)
        if existing is None:
            return Busy(None)  # gone between our insert and read (nothing deletes): retry later
        decision = rules.decide(existing, owner=owner, lineage=lineage, ttl=ttl, now=now)
        if not isinstance(decision, Record):
            return decision
        try:
            return Claimed(await self._replace(decision, if_etag=existing.etag))
        except LedgerConflict:
            return Busy(None)  # another worker took it over between our read and write

    async def mark_posted(self, record: Record) -> Record:
        return await self._replace(rules.posted(record), if_etag=record.etag)

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
        return await self._replace(updated, if_etag=record.etag)

    async def fail(self, record: Record, *, error_code: str) -> Record:
        return await self._replace(rules.failed(record, error_code=error_code), if_etag=record.etag)

    async def release(self, record: Record) -> Record:
        return await self._replace(rules.released(record), if_etag=record.etag)

    async def get(self, scope: Scope, key: str) -> Record | None:
        await self._table()
        return await self._read(scope, key)

    # -- storage -----------------------------------------------------------------------------

    async def _table(self) -> TableClient:
        """The client, after making sure the table exists — once per ledger, not per call."""
        if not self._table_ready:
            async with self._table_lock:
                if not self._table_ready:
                    await self._create_table()
                    self._table_ready = True
        return self._client

    async def _create_table(self) -> None:
        from azure.core.exceptions import HttpResponseError, ResourceExistsError

        try:
            await self._client.create_table()
        except ResourceExistsError:
            pass  # deployed: the infra created it
        except HttpResponseError as exc:
            if exc.status_code != 403:
                raise
            # An identity whose data role is scoped to the table itself may not create tables:
            # the infra owns the table, so go on (a missing table will fail the first write).
            _log.warning("ledger table: no permission to create it; assuming it exists")

    async def _read(self, scope: Scope, key: str) -> Record | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = await self._client.get_entity(scope.value, row_key(key))
        except ResourceNotFoundError:
            return None
        return _record(scope, key, entity, etag=str(entity.metadata["etag"]))

    async def _replace(self, record: Record, *, if_etag: str) -> Record:
        """Write `record` over the stored entity if that still has ETag `if_etag`."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        client = await self._table()
        try:
            written = await client.update_entity(
                _entity(record),
                mode=UpdateMode.REPLACE,
                etag=if_etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError) as exc:
            # Scope only: the key may be a CRM id.
            raise LedgerConflict(f"ledger record {record.scope}/… changed under us") from exc
        return dataclasses.replace(record, etag=_etag(written))


def _entity(record: Record) -> dict[str, Any]:
    # None-valued properties are left out, and REPLACE drops what is left out.
    return {
        "PartitionKey": record.scope.value,
        "RowKey": row_key(record.key),
        "state": record.state.value,
        "owner": record.owner,
        "expires_at": float(record.expires_at),
        "lineage": record.lineage,
        "posted": record.posted,
        "claims": record.claims,
        "referral_id": record.referral_id,
        "engagement_id": record.engagement_id,
        "result": json.dumps(record.result, ensure_ascii=False, sort_keys=True),
        "error_code": record.error_code,
    }


def _record(scope: Scope, key: str, entity: Mapping[str, Any], *, etag: str) -> Record:
    result = json.loads(entity.get("result") or "{}")
    return Record(
        scope=scope,
        key=key,
        state=State(entity["state"]),
        owner=entity["owner"],
        expires_at=float(entity["expires_at"]),
        lineage=entity["lineage"],
        posted=bool(entity.get("posted", False)),
        claims=int(entity.get("claims", 1)),
        referral_id=entity.get("referral_id"),
        engagement_id=entity.get("engagement_id"),
        result={str(k): str(v) for k, v in result.items()},
        error_code=entity.get("error_code"),
        etag=etag,
    )


def _etag(metadata: Mapping[str, Any]) -> str:
    return str(metadata["etag"])
