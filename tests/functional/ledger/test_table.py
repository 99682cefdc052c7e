"""What only the Table Storage ledger has: its entity layout, table creation, a lost write race."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

import pytest
from azure.core.pipeline.transport import AioHttpTransport, AsyncHttpTransport
from azure.data.tables.aio import TableClient

from shared.ledger.port import Busy, Claimed, Scope
from shared.ledger.table import ServerClock, TableLedger
from shared.settings import Settings
from tests.support.azurite import unique_table_name

pytestmark = pytest.mark.azurite

TTL = 30.0
KEY = "CRM-0042/ü#?"


class SpyTransport(AsyncHttpTransport):
    """The real aiohttp transport, recording each request; it can run a coroutine just before
    the first entity replace (PUT) goes out — another worker's write, right on cue."""

    def __init__(self) -> None:
        self._inner = AioHttpTransport()
        self.requests: list[tuple[str, str]] = []
        self.before_first_replace: Callable[[], Awaitable[Any]] | None = None

    async def send(self, request: Any, **kwargs: Any) -> Any:
        self.requests.append((request.method, urlparse(request.url).path))
        if request.method == "PUT" and self.before_first_replace is not None:
            hook, self.before_first_replace = self.before_first_replace, None
            await hook()
        return await self._inner.send(request, **kwargs)

    async def open(self) -> None:
        await self._inner.open()

    async def close(self) -> None:
        await self._inner.close()

    async def __aexit__(self, *args: Any) -> None:
        await self._inner.__aexit__(*args)

    def table_creations(self) -> int:
        return sum(
            1
            for method, path in self.requests
            if (method, path.rsplit("/", 1)[-1]) == ("POST", "Tables")
        )


@pytest.fixture
def table_name() -> str:
    return unique_table_name("ledger")


@pytest.fixture
async def raw_table(azurite_table: str, table_name: str) -> AsyncIterator[TableClient]:
    """The same table, read and written directly through the SDK."""
    async with TableClient.from_connection_string(azurite_table, table_name) as client:
        yield client


@pytest.fixture
async def spy() -> SpyTransport:
    return SpyTransport()


@pytest.fixture
async def ledger(
    azurite_table: str, table_name: str, spy: SpyTransport
) -> AsyncIterator[TableLedger]:
    ledger = TableLedger.from_connection_string(azurite_table, table_name, transport=spy)
    try:
        yield ledger
    finally:
        await ledger.close()


async def test_entity_layout_hashes_the_key_and_stores_every_field(
    ledger: TableLedger, raw_table: TableClient
) -> None:
    claim = await ledger.claim(Scope.CREATE, KEY, owner="worker-a", lineage="msg-1", ttl=TTL)
    assert isinstance(claim, Claimed)
    posted = await ledger.mark_posted(claim.record, ttl=TTL)
    done = await ledger.complete(
        posted, referral_id="ref-1", engagement_id="eng-1", result={"connectedReferralId": "ref-ms"}
    )

    entities = [entity async for entity in raw_table.list_entities()]

    assert len(entities) == 1
    assert dict(entities[0]) == {
        "PartitionKey": "create",
        "RowKey": hashlib.sha256(KEY.encode()).hexdigest(),
        "state": "completed",
        "owner": "worker-a",
        "expires_at": posted.expires_at,
        "lineage": "msg-1",
        "posted": True,
        "claims": 1,
        "referral_id": "ref-1",
        "engagement_id": "eng-1",
        "result": '{"connectedReferralId": "ref-ms"}',
        "lookups": 0,
        "not_before": 0.0,
    }
    assert entities[0].metadata["etag"] == done.etag


async def test_the_key_itself_is_stored_nowhere(
    ledger: TableLedger, raw_table: TableClient
) -> None:
    claim = await ledger.claim(Scope.CREATE, KEY, owner="worker-a", lineage="msg-1", ttl=TTL)
    assert isinstance(claim, Claimed)
    await ledger.fail(claim.record, error_code="throttled")

    entities = [entity async for entity in raw_table.list_entities()]

    assert len(entities) == 1
    assert entities[0]["error_code"] == "throttled"
    assert not [value for value in entities[0].values() if "CRM-0042" in str(value)]


async def test_a_replace_drops_fields_the_new_record_no_longer_has(
    ledger: TableLedger, raw_table: TableClient
) -> None:
    first = await ledger.claim(Scope.CONNECT, KEY, owner="worker-a", lineage="msg-1", ttl=TTL)
    assert isinstance(first, Claimed)
    await ledger.fail(first.record, error_code="unavailable")

    retry = await ledger.claim(Scope.CONNECT, KEY, owner="worker-b", lineage="msg-2", ttl=TTL)

    assert isinstance(retry, Claimed)
    entity = await raw_table.get_entity("connect", hashlib.sha256(KEY.encode()).hexdigest())
    assert "error_code" not in entity
    assert (entity["state"], entity["claims"], entity["lineage"]) == ("in-progress", 2, "msg-2")


async def test_a_takeover_lost_between_read_and_write_is_busy(
    ledger: TableLedger, azurite_table: str, table_name: str, spy: SpyTransport
) -> None:
    other = TableLedger.from_connection_string(azurite_table, table_name)
    try:
        first = await ledger.claim(Scope.CREATE, KEY, owner="worker-a", lineage="m", ttl=0)
        assert isinstance(first, Claimed)
        # Worker b takes the expired claim over after our read, before our replace reaches it.
        spy.before_first_replace = lambda: other.claim(
            Scope.CREATE, KEY, owner="worker-b", lineage="m", ttl=TTL
        )

        result = await ledger.claim(Scope.CREATE, KEY, owner="worker-c", lineage="m", ttl=TTL)

        assert result == Busy(None)
        stored = await ledger.get(Scope.CREATE, KEY)
        assert stored is not None
        assert (stored.owner, stored.claims) == ("worker-b", 2)
    finally:
        await other.close()


async def test_the_table_is_created_once_on_first_use(
    ledger: TableLedger, spy: SpyTransport
) -> None:
    assert spy.table_creations() == 0  # nothing happens before first use

    results = await asyncio.gather(
        *(
            ledger.claim(Scope.CREATE, f"key-{i}", owner="w", lineage="m", ttl=TTL)
            for i in range(10)
        )
    )
    for result in results:
        assert isinstance(result, Claimed)
        await ledger.mark_posted(result.record, ttl=TTL)
    assert await ledger.get(Scope.CREATE, "key-0") is not None

    assert spy.table_creations() == 1


async def test_an_existing_table_is_used_as_it_is(
    ledger: TableLedger, raw_table: TableClient, spy: SpyTransport
) -> None:
    await raw_table.create_table()  # as the infra does
    await raw_table.create_entity({"PartitionKey": "other", "RowKey": "row", "kept": True})

    result = await ledger.claim(Scope.CREATE, KEY, owner="w", lineage="m", ttl=TTL)

    assert isinstance(result, Claimed)
    assert spy.table_creations() == 1  # tried, got "already exists", went on
    assert (await raw_table.get_entity("other", "row"))["kept"] is True


async def test_from_settings_uses_the_connection_string(
    azurite_table: str, table_name: str
) -> None:
    settings = Settings.from_env(
        {
            "RELAY_PARTNER_TENANT_ID": "tenant",
            "RELAY_PARTNER_CLIENT_ID": "client",
            "RELAY_REFRESH_TOKEN_STORE": "file:///tmp/unused",
            "AZURE_CLIENT_ID": "mi-client-id",
            "RELAY_LEDGER_TABLE_URL": "https://unused.table.core.windows.net/",
            "RELAY_LEDGER_CONNECTION_STRING": azurite_table,
            "RELAY_LEDGER_TABLE": table_name,
        }
    )
    ledger = TableLedger.from_settings(settings)
    try:
        result = await ledger.claim(Scope.CREATE, KEY, owner="w", lineage="m", ttl=TTL)

        assert isinstance(result, Claimed)
        assert ledger.table_name == table_name
        assert await ledger.get(Scope.CREATE, KEY) == result.record
    finally:
        await ledger.close()


HOUR = 3_600.0


def skewed(ledger: TableLedger, by: float) -> TableLedger:
    """The ledger as a worker whose wall clock is `by` seconds off would run it."""
    ledger.clock = ServerClock(wall=lambda: time.time() + by)
    return ledger


async def test_the_ledger_runs_on_the_services_clock_not_the_workers(
    ledger: TableLedger,
) -> None:
    skewed(ledger, -HOUR)
    assert ledger.now() < time.time() - HOUR / 2  # nothing heard from the service yet

    await ledger.get(Scope.CREATE, KEY)  # any answer carries the service's Date

    assert ledger.clock.synced
    assert ledger.now() > time.time() - HOUR / 2  # Azurite runs on this machine's clock


async def test_a_worker_an_hour_fast_cannot_take_over_a_live_claim(
    ledger: TableLedger, azurite_table: str, table_name: str
) -> None:
    # Today's failure (D4): each worker compared expiries with its own wall clock, so one an
    # hour fast saw every claim as lapsed and took it over while its holder was POSTing.
    fast = skewed(TableLedger.from_connection_string(azurite_table, table_name), +HOUR)
    slow = skewed(ledger, -HOUR)
    try:
        first = await slow.claim(Scope.CREATE, KEY, owner="slow", lineage="m", ttl=TTL)
        assert isinstance(first, Claimed)

        second = await fast.claim(Scope.CREATE, KEY, owner="fast", lineage="m", ttl=TTL)

        assert second == Busy(first.record)
        # And the slow one's claim does not outlive its ttl on the service's clock either.
        assert first.record.expires_at <= fast.now() + TTL
    finally:
        await fast.close()


async def test_the_sdk_cannot_outlive_the_invocation_budget(ledger: TableLedger) -> None:
    from shared.ledger.table import CLIENT_OPTIONS

    pipeline: Any = ledger._client._client._client._pipeline  # type: ignore[attr-defined]
    (retry,) = [p for p in pipeline._impl_policies if hasattr(p, "total_retries")]
    # Every try is bounded, and so are the retries: well inside the 45 s budget.
    assert (retry.total_retries, retry.timeout, retry.backoff_max) == (
        CLIENT_OPTIONS["retry_total"],
        CLIENT_OPTIONS["timeout"],
        CLIENT_OPTIONS["retry_backoff_max"],
    )
    tries = retry.total_retries + 1
    worst = tries * (CLIENT_OPTIONS["connection_timeout"] + CLIENT_OPTIONS["read_timeout"])
    assert min(worst, retry.timeout) + retry.total_retries * retry.backoff_max < 45
