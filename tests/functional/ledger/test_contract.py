"""The `Ledger` contract, run against every adapter (the `ledger` fixture is parametrized)."""

from __future__ import annotations

import asyncio

import pytest

from shared.ledger.port import (
    AlreadyCompleted,
    AlreadyFailed,
    Busy,
    Claimed,
    ClaimResult,
    Ledger,
    LedgerConflict,
    Record,
    Scope,
    State,
)

NOW = 1_000.0
TTL = 30.0
KEY = "CRM-000123"


async def claim(
    ledger: Ledger,
    owner: str,
    *,
    key: str = KEY,
    lineage: str = "msg-1",
    now: float = NOW,
    scope: Scope = Scope.CREATE,
) -> ClaimResult:
    return await ledger.claim(scope, key, owner=owner, lineage=lineage, ttl=TTL, now=now)


async def claimed(ledger: Ledger, owner: str, **kwargs: object) -> Record:
    result = await claim(ledger, owner, **kwargs)  # type: ignore[arg-type]
    assert isinstance(result, Claimed), result
    return result.record


async def test_first_claim_inserts_an_in_progress_record(ledger: Ledger) -> None:
    assert await ledger.get(Scope.CREATE, KEY) is None

    result = await claim(ledger, "worker-a")

    assert isinstance(result, Claimed)
    assert not result.may_have_posted
    record = result.record
    assert (record.scope, record.key, record.state) == (Scope.CREATE, KEY, State.IN_PROGRESS)
    assert (record.owner, record.lineage, record.claims) == ("worker-a", "msg-1", 1)
    assert record.expires_at == NOW + TTL
    assert not record.posted
    assert record.etag
    assert await ledger.get(Scope.CREATE, KEY) == record


async def test_a_second_claimer_is_busy_while_the_claim_is_live(ledger: Ledger) -> None:
    first = await claimed(ledger, "worker-a")

    result = await claim(ledger, "worker-b", now=NOW + TTL - 1)

    assert isinstance(result, Busy)
    assert result.record == first
    assert await ledger.get(Scope.CREATE, KEY) == first


async def test_an_expired_claim_is_taken_over_and_keeps_posted(ledger: Ledger) -> None:
    first = await claimed(ledger, "worker-a")
    await ledger.mark_posted(first)

    result = await claim(ledger, "worker-b", lineage="msg-1-copy", now=NOW + TTL)

    assert isinstance(result, Claimed)
    assert result.may_have_posted
    record = result.record
    assert (record.state, record.owner, record.lineage) == (
        State.IN_PROGRESS,
        "worker-b",
        "msg-1-copy",
    )
    assert (record.claims, record.posted) == (2, True)
    assert record.expires_at == NOW + TTL + TTL
    assert await ledger.get(Scope.CREATE, KEY) == record


async def test_release_makes_the_key_claimable_at_once_and_keeps_posted(ledger: Ledger) -> None:
    first = await claimed(ledger, "worker-a")
    posted = await ledger.mark_posted(first)

    released = await ledger.release(posted)
    result = await claim(ledger, "worker-b", now=NOW + 1)

    assert released.posted
    assert isinstance(result, Claimed)
    assert result.may_have_posted
    assert (result.record.owner, result.record.claims) == ("worker-b", 2)


async def test_completed_answers_with_the_ids_and_result(ledger: Ledger) -> None:
    first = await claimed(ledger, "worker-a")
    posted = await ledger.mark_posted(first)
    done = await ledger.complete(
        posted,
        referral_id="ref-1",
        engagement_id="eng-1",
        result={"connectedReferralId": "ref-ms-1", "note": "ünïcødé ✓"},
    )

    for later in (NOW + 1, NOW + 10 * TTL):
        result = await claim(ledger, "worker-b", lineage="msg-2", now=later)
        assert isinstance(result, AlreadyCompleted)
        assert result.record == done
    record = await ledger.get(Scope.CREATE, KEY)
    assert record is not None
    assert record.state is State.COMPLETED
    assert (record.referral_id, record.engagement_id) == ("ref-1", "eng-1")
    assert record.result == {"connectedReferralId": "ref-ms-1", "note": "ünïcødé ✓"}
    assert record.posted


async def test_completed_without_engagement_id_or_result(ledger: Ledger) -> None:
    first = await claimed(ledger, "worker-a")

    done = await ledger.complete(first, referral_id="ref-1", engagement_id=None)

    assert (done.engagement_id, done.result) == (None, {})
    assert await ledger.get(Scope.CREATE, KEY) == done


async def test_failed_answers_the_same_lineage(ledger: Ledger) -> None:
    first = await claimed(ledger, "worker-a", lineage="msg-1")
    failed = await ledger.fail(first, error_code="throttled")

    result = await claim(ledger, "worker-b", lineage="msg-1", now=NOW + 10 * TTL)

    assert isinstance(result, AlreadyFailed)
    assert result.record == failed
    assert (failed.state, failed.error_code) == (State.FAILED, "throttled")


async def test_failed_is_claimable_by_another_lineage(ledger: Ledger) -> None:
    first = await claimed(ledger, "worker-a", lineage="msg-1")
    await ledger.fail(await ledger.mark_posted(first), error_code="unavailable")

    result = await claim(ledger, "worker-b", lineage="msg-2", now=NOW + 1)

    assert isinstance(result, Claimed)
    record = result.record
    assert (record.state, record.lineage, record.owner) == (State.IN_PROGRESS, "msg-2", "worker-b")
    assert (record.claims, record.error_code, record.posted) == (2, None, True)


async def test_updates_with_a_stale_etag_conflict_and_change_nothing(ledger: Ledger) -> None:
    stale = await claimed(ledger, "worker-a")
    takeover = await claimed(ledger, "worker-b", now=NOW + TTL)

    with pytest.raises(LedgerConflict):
        await ledger.mark_posted(stale)
    with pytest.raises(LedgerConflict):
        await ledger.complete(stale, referral_id="ref-1", engagement_id="eng-1")
    with pytest.raises(LedgerConflict):
        await ledger.fail(stale, error_code="throttled")
    with pytest.raises(LedgerConflict):
        await ledger.release(stale)

    assert await ledger.get(Scope.CREATE, KEY) == takeover


async def test_each_update_needs_the_record_it_returned(ledger: Ledger) -> None:
    first = await claimed(ledger, "worker-a")
    posted = await ledger.mark_posted(first)

    assert posted.etag != first.etag
    with pytest.raises(LedgerConflict):
        await ledger.complete(first, referral_id="ref-1", engagement_id=None)
    done = await ledger.complete(posted, referral_id="ref-1", engagement_id=None)
    assert await ledger.get(Scope.CREATE, KEY) == done


async def test_the_holder_may_reclaim_its_own_live_claim(ledger: Ledger) -> None:
    await claimed(ledger, "worker-a")

    again = await claimed(ledger, "worker-a", now=NOW + 1)

    assert (again.owner, again.claims, again.expires_at) == ("worker-a", 2, NOW + 1 + TTL)


async def test_concurrent_claims_of_one_key_yield_exactly_one_claimed(ledger: Ledger) -> None:
    results = await asyncio.gather(*(claim(ledger, f"worker-{i}") for i in range(20)))

    winners = [r for r in results if isinstance(r, Claimed)]
    assert len(winners) == 1
    assert all(isinstance(r, Busy) for r in results if r is not winners[0])
    assert await ledger.get(Scope.CREATE, KEY) == winners[0].record


async def test_concurrent_takeovers_of_an_expired_claim_yield_exactly_one(ledger: Ledger) -> None:
    await claimed(ledger, "worker-a")

    results = await asyncio.gather(
        *(claim(ledger, f"worker-{i}", now=NOW + TTL + 1) for i in range(20))
    )

    winners = [r for r in results if isinstance(r, Claimed)]
    assert len(winners) == 1
    assert all(isinstance(r, Busy) for r in results if r is not winners[0])
    assert winners[0].record.claims == 2
    assert await ledger.get(Scope.CREATE, KEY) == winners[0].record


async def test_scopes_are_separate(ledger: Ledger) -> None:
    create = await claimed(ledger, "worker-a", scope=Scope.CREATE)
    connect = await claimed(ledger, "worker-b", scope=Scope.CONNECT)

    assert await ledger.get(Scope.CREATE, KEY) == create
    assert await ledger.get(Scope.CONNECT, KEY) == connect


AWKWARD_KEYS = [
    "O'Brien & Sons",
    "a/b/c",
    "back\\slash",
    "hash#tag",
    "what?x=1&y=2",
    "%2F%23 encoded-looking",
    "tab\tnew\nline\x00nul\x7f",
    "Ünïcödé — 日本語 — 🚀",
    "lone \ud800 surrogate",
    " ",
    "k" * 1_000,
    "é" * 1_000,
]


async def test_awkward_keys_are_distinct_and_round_trip(ledger: Ledger) -> None:
    records = {
        key: await claimed(ledger, f"worker-{i}", key=key) for i, key in enumerate(AWKWARD_KEYS)
    }

    for key, record in records.items():
        assert record.key == key
        assert await ledger.get(Scope.CREATE, key) == record
        busy = await claim(ledger, "someone-else", key=key, now=NOW + 1)
        assert isinstance(busy, Busy)
        done = await ledger.complete(record, referral_id=f"ref-{len(key)}", engagement_id="eng")
        again = await claim(ledger, "someone-else", key=key, now=NOW + 1)
        assert isinstance(again, AlreadyCompleted)
        assert again.record == done
