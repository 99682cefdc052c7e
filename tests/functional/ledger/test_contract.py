"""The `Ledger` contract, run against every adapter (the `ledger` fixture is parametrized).

Time is the ledger's own (`Ledger.now()`), so these tests never pass a time: a claim with `LIVE`
seconds is live for the whole test, one with `LAPSED` (0) is over as soon as it is written.
"""

from __future__ import annotations

import asyncio

import pytest

from shared.ledger.port import (
    AlreadyCompleted,
    AlreadyFailed,
    Busy,
    Claimed,
    ClaimResult,
    KeyReused,
    Ledger,
    LedgerConflict,
    Record,
    Scope,
    State,
)

LIVE = 3_600.0
LAPSED = 0.0
KEY = "CRM-000123"
BODY_A = "a" * 64
BODY_B = "b" * 64


async def claim(
    ledger: Ledger,
    owner: str,
    *,
    key: str = KEY,
    lineage: str = "msg-1",
    ttl: float = LIVE,
    scope: Scope = Scope.CREATE,
    body_hash: str | None = None,
    posting: bool = False,
) -> ClaimResult:
    return await ledger.claim(
        scope, key, owner=owner, lineage=lineage, ttl=ttl, body_hash=body_hash, posting=posting
    )


async def claimed(ledger: Ledger, owner: str, **kwargs: object) -> Record:
    result = await claim(ledger, owner, **kwargs)  # type: ignore[arg-type]
    assert isinstance(result, Claimed), result
    return result.record


async def test_first_claim_inserts_an_in_progress_record(ledger: Ledger) -> None:
    assert await ledger.get(Scope.CREATE, KEY) is None
    before = ledger.now()

    result = await claim(ledger, "worker-a", body_hash=BODY_A)

    after = ledger.now()
    assert isinstance(result, Claimed)
    assert result.previous is None
    assert not result.may_have_posted
    record = result.record
    assert (record.scope, record.key, record.state) == (Scope.CREATE, KEY, State.IN_PROGRESS)
    assert (record.owner, record.lineage, record.claims) == ("worker-a", "msg-1", 1)
    # The expiry is on the ledger's clock, `ttl` after a moment during the call.
    assert before + LIVE <= record.expires_at <= after + LIVE
    assert (record.posted, record.body_hash, record.lookups, record.not_before) == (
        False,
        BODY_A,
        0,
        0.0,
    )
    assert record.etag
    assert await ledger.get(Scope.CREATE, KEY) == record


async def test_a_claim_can_carry_the_posted_mark(ledger: Ledger) -> None:
    record = await claimed(ledger, "worker-a", posting=True)

    assert record.posted
    assert await ledger.get(Scope.CREATE, KEY) == record


async def test_a_second_claimer_is_busy_while_the_claim_is_live(ledger: Ledger) -> None:
    first = await claimed(ledger, "worker-a")

    result = await claim(ledger, "worker-b")

    assert isinstance(result, Busy)
    assert result.record == first
    assert await ledger.get(Scope.CREATE, KEY) == first


async def test_an_expired_claim_is_taken_over_and_keeps_posted(ledger: Ledger) -> None:
    first = await claimed(ledger, "worker-a", ttl=LAPSED, posting=True)

    result = await claim(ledger, "worker-b", lineage="msg-1-copy")

    assert isinstance(result, Claimed)
    assert result.may_have_posted
    assert result.previous == first
    record = result.record
    assert (record.state, record.owner, record.lineage) == (
        State.IN_PROGRESS,
        "worker-b",
        "msg-1-copy",
    )
    assert (record.claims, record.posted) == (2, True)
    assert record.expires_at > ledger.now()
    assert await ledger.get(Scope.CREATE, KEY) == record


async def test_mark_posted_renews_the_claim_and_restarts_the_lookups(ledger: Ledger) -> None:
    first = await claimed(ledger, "worker-a", ttl=LAPSED)
    paced = await ledger.release(first, posted=True, lookups=2, not_before=5.0)
    again = await claimed(ledger, "worker-a")
    before = ledger.now()

    posted = await ledger.mark_posted(again, ttl=LIVE)

    assert (paced.lookups, again.lookups) == (2, 2)
    assert (posted.posted, posted.lookups, posted.not_before) == (True, 0, 5.0)
    assert posted.expires_at >= before + LIVE
    assert await ledger.get(Scope.CREATE, KEY) == posted


async def test_release_makes_the_key_claimable_at_once_and_keeps_posted(ledger: Ledger) -> None:
    first = await claimed(ledger, "worker-a", posting=True)

    released = await ledger.release(first)
    result = await claim(ledger, "worker-b")

    assert released.posted
    assert isinstance(result, Claimed)
    assert result.may_have_posted
    assert (result.record.owner, result.record.claims) == ("worker-b", 2)


async def test_release_stores_what_the_holder_learned(ledger: Ledger) -> None:
    first = await claimed(ledger, "worker-a", posting=True)

    released = await ledger.release(first, posted=False, lookups=1, not_before=1_234.5)

    assert (released.posted, released.lookups, released.not_before) == (False, 1, 1_234.5)
    assert await ledger.get(Scope.CREATE, KEY) == released
    taken = await claimed(ledger, "worker-b")
    assert (taken.posted, taken.lookups, taken.not_before) == (False, 1, 1_234.5)


async def test_completed_answers_with_the_ids_and_result(ledger: Ledger) -> None:
    first = await claimed(ledger, "worker-a", posting=True)
    done = await ledger.complete(
        first,
        referral_id="ref-1",
        engagement_id="eng-1",
        result={"connectedReferralId": "ref-ms-1", "note": "ünïcødé ✓"},
    )

    for _ in range(2):
        result = await claim(ledger, "worker-b", lineage="msg-2")
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
    failed = await ledger.fail(first, error_code="throttled", result={"attempts": "5"})

    result = await claim(ledger, "worker-b", lineage="msg-1")

    assert isinstance(result, AlreadyFailed)
    assert result.record == failed
    assert (failed.state, failed.error_code, failed.result) == (
        State.FAILED,
        "throttled",
        {"attempts": "5"},
    )


async def test_failed_is_claimable_by_another_lineage_which_supersedes_it(
    ledger: Ledger,
) -> None:
    first = await claimed(ledger, "worker-a", lineage="msg-1", posting=True)
    await ledger.fail(first, error_code="unavailable")

    result = await claim(ledger, "worker-b", lineage="msg-2")

    assert isinstance(result, Claimed)
    record = result.record
    assert (record.state, record.lineage, record.owner) == (State.IN_PROGRESS, "msg-2", "worker-b")
    assert (record.claims, record.error_code, record.posted) == (2, None, True)
    # The give-up of msg-1 is named, so msg-2's success can say it replaces it.
    assert record.result["supersedes"] == "msg-1"


async def test_another_body_under_a_key_that_may_hold_a_referral_is_refused(
    ledger: Ledger,
) -> None:
    first = await claimed(ledger, "worker-a", body_hash=BODY_A, posting=True)

    while_held = await claim(ledger, "worker-b", lineage="msg-2", body_hash=BODY_B)
    same_body = await claim(ledger, "worker-c", lineage="msg-3", body_hash=BODY_A)
    done = await ledger.complete(first, referral_id="ref-1", engagement_id="eng-1")
    after_done = await claim(ledger, "worker-d", lineage="msg-4", body_hash=BODY_B)

    assert while_held == KeyReused(first)
    assert isinstance(same_body, Busy)  # the same body is a repeat, not a reuse
    assert after_done == KeyReused(done)


async def test_a_key_whose_body_created_nothing_is_free_for_another(ledger: Ledger) -> None:
    first = await claimed(ledger, "worker-a", body_hash=BODY_A, posting=True)
    # Refused by the API: nothing was created, so the holder clears the mark and lets go.
    await ledger.release(first, posted=False)

    result = await claim(ledger, "worker-b", lineage="msg-2", body_hash=BODY_B)

    assert isinstance(result, Claimed)
    assert result.record.body_hash == BODY_B


async def test_updates_with_a_stale_etag_conflict_and_change_nothing(ledger: Ledger) -> None:
    stale = await claimed(ledger, "worker-a", ttl=LAPSED)
    takeover = await claimed(ledger, "worker-b")

    with pytest.raises(LedgerConflict):
        await ledger.mark_posted(stale, ttl=LIVE)
    with pytest.raises(LedgerConflict):
        await ledger.complete(stale, referral_id="ref-1", engagement_id="eng-1")
    with pytest.raises(LedgerConflict):
        await ledger.fail(stale, error_code="throttled")
    with pytest.raises(LedgerConflict):
        await ledger.release(stale)

    assert await ledger.get(Scope.CREATE, KEY) == takeover


async def test_each_update_needs_the_record_it_returned(ledger: Ledger) -> None:
    first = await claimed(ledger, "worker-a")
    posted = await ledger.mark_posted(first, ttl=LIVE)

    assert posted.etag != first.etag
    with pytest.raises(LedgerConflict):
        await ledger.complete(first, referral_id="ref-1", engagement_id=None)
    done = await ledger.complete(posted, referral_id="ref-1", engagement_id=None)
    assert await ledger.get(Scope.CREATE, KEY) == done


async def test_the_holder_may_reclaim_its_own_live_claim(ledger: Ledger) -> None:
    first = await claimed(ledger, "worker-a")

    again = await claimed(ledger, "worker-a")

    assert (again.owner, again.claims) == ("worker-a", 2)
    assert again.expires_at >= first.expires_at


async def test_concurrent_claims_of_one_key_yield_exactly_one_claimed(ledger: Ledger) -> None:
    results = await asyncio.gather(*(claim(ledger, f"worker-{i}") for i in range(20)))

    winners = [r for r in results if isinstance(r, Claimed)]
    assert len(winners) == 1
    assert all(isinstance(r, Busy) for r in results if r is not winners[0])
    assert await ledger.get(Scope.CREATE, KEY) == winners[0].record


async def test_concurrent_takeovers_of_an_expired_claim_yield_exactly_one(ledger: Ledger) -> None:
    await claimed(ledger, "worker-a", ttl=LAPSED)

    results = await asyncio.gather(*(claim(ledger, f"worker-{i}") for i in range(20)))

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
        busy = await claim(ledger, "someone-else", key=key)
        assert isinstance(busy, Busy)
        done = await ledger.complete(record, referral_id=f"ref-{len(key)}", engagement_id="eng")
        again = await claim(ledger, "someone-else", key=key)
        assert isinstance(again, AlreadyCompleted)
        assert again.record == done
