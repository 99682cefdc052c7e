"""Azure Table Storage ledger: the deployed implementation of the port (design §4).

One entity per (scope, key):

    PartitionKey   the scope ("create" | "connect")
    RowKey         sha256 of the key (UTF-8), 64 hex digits — the key itself is not stored
    state, owner, expires_at, lineage, posted, claims, referral_id, engagement_id,
    error_code, body_hash, lookups, not_before    the `Record` fields of the same name
    result         `Record.result` as a JSON object string

The record's `etag` is the entity's ETag. Times (`expires_at`, `not_before`) are on the table
service's clock, estimated from the `Date` header of its responses (`ServerClock`): a worker's
wall clock may be minutes off, the service's is the one every worker shares.

A claim is `create_entity` (insert-if-absent); a lost insert reads the winner and lets
`rules.decide` answer; takeovers and updates replace the entity only if its ETag is unchanged.
An ETag mismatch is `Busy` for a claim, `LedgerConflict` for an update. Adapters only store:
every decision is `rules`'.

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
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Final

from shared.ledger import rules
from shared.ledger.port import Busy, Claimed, ClaimResult, LedgerConflict, Record, Scope, State

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.data.tables.aio import TableClient

    from shared.settings import Settings

_log = logging.getLogger("referral_relay.ledger")  # under our root: scrubbed and exported


# The SDK's defaults (300 s connect and read timeouts, 10 retries, backoff up to 120 s) would let
# one ledger call outlive the invocation's 45 s retry budget and the claim it guards. Bounded:
# at most 3 tries of 3 s + 8 s, 2 s apart, and 20 s in all.
CLIENT_OPTIONS: Final[dict[str, Any]] = {
    "connection_timeout": 3,
    "read_timeout": 8,
    "retry_total": 2,
    "retry_backoff_factor": 0.5,
    "retry_backoff_max": 2,
    "timeout": 20,
}


class ServerClock:
    """The table service's clock: the `Date` header of its responses plus the local monotonic
    time since. `Date` has whole seconds and is written before the answer travels, so each
    reading runs up to a second or so behind the service; the clock keeps the least-late one
    (the largest offset) and so never runs backwards. Behind means a claim looks live a little
    longer to a taker, never shorter; the holder allows for it (`clock_margin_seconds`). Before
    any response the local wall clock stands in (a ledger's first call, the table check, always
    brings one)."""

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._monotonic = monotonic
        self._wall = wall
        self._offset: float | None = None  # service epoch seconds minus local monotonic

    def observe(self, date_header: str | None) -> None:
        if not date_header:
            return
        try:
            server = parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError):
            return
        offset = server - self._monotonic()
        self._offset = offset if self._offset is None else max(self._offset, offset)

    @property
    def synced(self) -> bool:
        return self._offset is not None

    def now(self) -> float:
        if self._offset is None:
            return self._wall()
        return self._monotonic() + self._offset


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
        self.clock = ServerClock()

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
            **CLIENT_OPTIONS,
        )
        return cls(client, credential=credential)

    @classmethod
    def from_connection_string(
        cls, connection_string: str, table_name: str, **client_options: Any
    ) -> TableLedger:
        """`client_options` go to the SDK client (e.g. `raw_request_hook`), over
        `CLIENT_OPTIONS`."""
        from azure.data.tables.aio import TableClient

        options = {**CLIENT_OPTIONS, **client_options}
        return cls(TableClient.from_connection_string(connection_string, table_name, **options))

    @property
    def table_name(self) -> str:
        return self._client.table_name

    async def close(self) -> None:
        await self._client.close()
        if self._credential is not None:
            await self._credential.close()
            self._credential = None

    # -- the port ----------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

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
        from azure.core.exceptions import ResourceExistsError

        client = await self._table()
        # Expiry on the service's clock as it stands when the insert is sent: the earliest the
        # write can take effect, so the holder (which measures what is left after the call
        # returns) never believes in more lease than a taker will grant it.
        record = rules.new_claim(
            scope,
            key,
            owner=owner,
            lineage=lineage,
            ttl=ttl,
            now=self.now(),
            body_hash=body_hash,
            posting=posting,
        )
        try:
            written = await client.create_entity(_entity(record), raw_response_hook=self._seen)
        except ResourceExistsError:
            pass
        else:
            return Claimed(dataclasses.replace(record, etag=_etag(written)))
        existing = await self._read(scope, key)
        if existing is None:
            return Busy(None)  # gone between our insert and read (nothing deletes): retry later
        decision = rules.decide(
            existing,
            owner=owner,
            lineage=lineage,
            ttl=ttl,
            now=self.now(),  # after the read: its Date is the freshest the service gave
            body_hash=body_hash,
            posting=posting,
        )
        if not isinstance(decision, Record):
            return decision
        try:
            return Claimed(await self._replace(decision, if_etag=existing.etag), previous=existing)
        except LedgerConflict:
            return Busy(None)  # another worker took it over between our read and write

    async def mark_posted(self, record: Record, *, ttl: float) -> Record:
        return await self._replace(
            rules.posted(record, ttl=ttl, now=self.now()), if_etag=record.etag
        )

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

    async def fail(
        self, record: Record, *, error_code: str, result: dict[str, str] | None = None
    ) -> Record:
        updated = rules.failed(record, error_code=error_code, result=result)
        return await self._replace(updated, if_etag=record.etag)

    async def release(
        self,
        record: Record,
        *,
        posted: bool | None = None,
        lookups: int | None = None,
        not_before: float | None = None,
    ) -> Record:
        updated = rules.released(record, posted=posted, lookups=lookups, not_before=not_before)
        return await self._replace(updated, if_etag=record.etag)

    async def get(self, scope: Scope, key: str) -> Record | None:
        await self._table()
        return await self._read(scope, key)

    async def table_client(self) -> TableClient:
        """The ready client, for the marks that live in the same table (`marks_table.py`)."""
        return await self._table()

    def observe(self, response: Any) -> None:
        """A `raw_response_hook` for calls made on `table_client()`: keeps the clock fresh."""
        self._seen(response)

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
            await self._client.create_table(raw_response_hook=self._seen)
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
            entity = await self._client.get_entity(
                scope.value, row_key(key), raw_response_hook=self._seen
            )
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
                raw_response_hook=self._seen,
            )
        except (ResourceModifiedError, ResourceNotFoundError) as exc:
            # Scope only: the key may be a CRM id.
            raise LedgerConflict(f"ledger record {record.scope}/… changed under us") from exc
        return dataclasses.replace(record, etag=_etag(written))

    def _seen(self, response: Any) -> None:
        """azure-core's `raw_response_hook`: every answer of the service sets our clock."""
        self.clock.observe(response.http_response.headers.get("Date"))


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
        "body_hash": record.body_hash,
        "lookups": record.lookups,
        "not_before": float(record.not_before),
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
        body_hash=entity.get("body_hash"),
        lookups=int(entity.get("lookups", 0)),
        not_before=float(entity.get("not_before", 0.0)),
        etag=etag,
    )


def _etag(metadata: Mapping[str, Any]) -> str:
    return str(metadata["etag"])
