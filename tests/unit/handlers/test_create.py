"""The exactly-once core through create_referral: in-memory ledger and publisher, a fake Partner
API that commits late, lags and filters inexactly, and one timeline for every clock."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from typing import Any

import pytest

from shared import names
from shared.contracts.referral import MICROSOFT_TARGET
from shared.handlers.common import HandlerConfig
from shared.handlers.create import handle_create
from shared.handlers.exactly_once import MAX_WAITS, body_digest
from shared.ledger.port import Scope, State
from shared.partner_api.errors import RequestTimedOut
from tests.conftest import REQUEST_EXAMPLE
from tests.unit.handlers.fakes import (
    LEDGER_EPOCH,
    Message,
    World,
    gateway_timeout,
    lost_answer,
    message,
    refused,
    throttled,
    unavailable,
)

KEY = "crm-1001"


def independent(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(REQUEST_EXAMPLE)
    body.update(type="Independent", externalReferenceId=KEY)
    body.update(changes)
    return body


def ours(world: World) -> list[dict[str, Any]]:
    return [r for r in world.api.referrals() if r.get("externalReferenceId") == KEY]


class CountingLedger:
    """Counts the ledger round trips of the in-memory ledger it wraps."""

    def __init__(self, world: World) -> None:
        self.inner = world.ledger
        self.calls: list[str] = []

    def now(self) -> float:
        return self.inner.now()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return await method(*args, **kwargs)

        return counted


# ---- the minimum call sequence (issue 16 §1) --------------------------------------------------


async def test_an_independent_referral_costs_one_call_and_two_ledger_writes() -> None:
    world = World()
    counting = CountingLedger(world)

    await world.deliver(handle_create, message(independent()), world.deps(ledger=counting))

    assert world.api.calls == ["create"]  # no look-up on a first claim
    assert counting.calls == ["claim", "complete"]  # `posted` rides on the claim write
    assert world.kinds() == ["created"]
    (created,) = world.events(names.REFERRAL_CREATED)
    assert created["data"]["engagementGiven"] is False
    assert created["data"]["supersedes"] is None
    record = await world.ledger.get(Scope.CREATE, KEY)
    assert record is not None
    assert (record.state, record.posted) == (State.COMPLETED, True)


async def test_lookup_on_first_claim_adopts_what_an_earlier_run_created() -> None:
    world = World(config=HandlerConfig(lookup_on_first_claim=True))
    existing = world.api.commit(independent())

    await world.deliver(handle_create, message(independent()))

    assert world.api.calls == ["list"]
    (created,) = world.events(names.REFERRAL_CREATED)
    assert created["data"]["referralId"] == existing["id"]
    assert len(ours(world)) == 1


async def test_without_lookup_on_first_claim_a_fresh_ledger_trusts_itself() -> None:
    world = World()
    world.api.commit(independent())  # made by an earlier run with another ledger

    await world.deliver(handle_create, message(independent()))

    assert world.api.calls == ["create"]  # the flag is what `run --live` sets for this


async def test_a_message_without_key_posts_its_message_id_as_external_reference() -> None:
    world = World()
    body = independent()
    del body["externalReferenceId"]

    await world.deliver(handle_create, message(body, message_id="msg-77"))

    (referral,) = world.api.referrals()
    assert referral["externalReferenceId"] == "msg-77"


# ---- D1, D3: the look-up matches the key exactly, whatever the target --------------------------


async def test_a_lost_answer_for_a_microsoft_targeted_body_is_found_not_posted_twice() -> None:
    # D1: the look-up skipped every referral targeting Microsoft, so one lost answer gave two.
    world = World()
    world.api.create_faults = [lost_answer()]
    body = independent(type="Shared", target=[dict(MICROSOFT_TARGET)])

    await world.deliver(handle_create, message(body))

    assert len(ours(world)) == 1
    assert world.api.count("create") == 1
    (created,) = world.events(names.REFERRAL_CREATED)
    assert created["data"]["referralId"] == ours(world)[0]["id"]


@pytest.mark.parametrize("mode", ["casefold", "ignore"])
async def test_an_inexact_filter_never_makes_another_customers_referral_ours(mode: str) -> None:
    # D3: the first referral the list returned was taken as ours.
    world = World()
    other = world.api.commit(independent(externalReferenceId=KEY.upper()))
    world.api.list_mode = mode
    world.api.create_faults = [unavailable()]  # a 503 that created nothing: look it up

    await world.deliver(handle_create, message(independent()))

    (created,) = world.events(names.REFERRAL_CREATED)
    assert created["data"]["referralId"] != other["id"]
    (mine,) = ours(world)
    assert created["data"]["referralId"] == mine["id"]


async def test_a_look_up_the_api_refuses_is_retried_never_a_rejection() -> None:
    # D3: a 400 refusing the filter became `referral-rejected` although the referral existed.
    world = World()
    world.api.create_faults = [lost_answer()]
    world.api.list_refusals = 2  # then the filter is accepted again

    await world.deliver(handle_create, message(independent()))

    assert world.events(names.REFERRAL_REJECTED) == []
    assert "lookup_failed" in [d.outcome.error_code for d in world.deliveries if d.outcome]
    assert len(ours(world)) == 1
    (created,) = world.events(names.REFERRAL_CREATED)
    assert created["data"]["referralId"] == ours(world)[0]["id"]


# ---- D2: no second POST in one invocation; paced look-ups before any re-POST ------------------


@pytest.mark.parametrize(
    "fault",
    [lost_answer(commit_after=20.0), gateway_timeout(commit_after=0.8)],
    ids=["commit-after-the-read-timeout", "504-then-commit"],
)
async def test_a_late_commit_is_found_by_a_paced_look_up(fault: Any) -> None:
    world = World()
    world.api.create_faults = [fault]

    await world.deliver(handle_create, message(independent()))

    assert len(ours(world)) == 1
    assert world.api.count("create") == 1
    assert world.kinds()[0] == "rescheduled"  # not a second POST in the same invocation
    assert world.kinds()[-1] == "created"


async def test_a_lagging_list_is_waited_out_before_posting_again() -> None:
    world = World()
    world.api.list_lag = 100.0  # longer than the first two delays together
    world.api.create_faults = [lost_answer()]

    await world.deliver(handle_create, message(independent()))

    assert len(ours(world)) == 1
    assert world.api.count("create") == 1
    assert world.api.count("list") >= 2


async def test_only_when_every_paced_look_up_is_empty_is_it_posted_again() -> None:
    world = World()
    world.api.create_faults = [unavailable()]  # nothing was created after all

    await world.deliver(handle_create, message(independent()))

    delays = world.config.relookup_delays_seconds
    assert world.api.calls == ["create"] + ["list"] * len(delays) + ["create"]
    assert len(ours(world)) == 1
    # Each look-up waited its delay on the ledger's clock: the copies say when.
    enqueued = [m.enqueue_at.timestamp() for m in world.publisher.scheduled if m.enqueue_at]
    gaps = [later - earlier for earlier, later in itertools.pairwise(enqueued)]
    assert all(gap >= delay for gap, delay in zip(gaps, delays[1:], strict=False))
    assert enqueued[0] - LEDGER_EPOCH >= delays[0]
    # Pacing spends no attempt; the ambiguous POST spent one.
    attempts = [m.application_properties[names.PROP_ATTEMPT] for m in world.publisher.scheduled]
    assert attempts == [1] * len(delays)


async def test_a_copy_that_arrives_early_waits_for_its_look_up() -> None:
    world = World()
    world.api.create_faults = [unavailable()]
    await world.handle_once(handle_create, message(independent()))

    # A resend of the same body arrives at once, long before the first look-up is due.
    await world.handle_once(handle_create, message(independent(), message_id="m-2"))

    assert world.api.calls == ["create"]  # no look-up yet, and certainly no POST
    assert world.kinds() == ["rescheduled", "rescheduled"]


# ---- D4: fenced claims, the ledger's clock ------------------------------------------------------


@pytest.mark.parametrize("skew", [-600.0, 600.0])
async def test_a_worker_with_a_skewed_clock_waits_for_a_live_holder(skew: float) -> None:
    world = World()
    in_flight = asyncio.Event()
    finish = asyncio.Event()

    async def hold_the_post() -> None:
        in_flight.set()
        await finish.wait()

    world.api.on_create = hold_the_post
    first = asyncio.ensure_future(world.handle_once(handle_create, message(independent())))
    await in_flight.wait()
    world.api.on_create = None
    world.timeline.advance(world.config.claim_ttl_seconds / 2)  # well inside the claim

    await world.handle_once(handle_create, message(independent(), message_id="m-2"), skew=skew)
    finish.set()
    await first

    assert world.api.count("create") == 1  # the second delivery did not POST
    assert sorted(world.kinds()) == ["created", "rescheduled"]
    (copy_,) = world.publisher.scheduled
    # It comes back when the holder's claim lapses, by the ledger's clock, not its own.
    record = await world.ledger.get(Scope.CREATE, KEY)
    assert record is not None
    assert copy_.enqueue_at is not None
    assert copy_.enqueue_at.timestamp() >= record.expires_at


async def test_a_claim_that_took_long_to_write_is_renewed_before_the_post() -> None:
    world = World()
    counting = CountingLedger(world)
    slow = world.config.claim_ttl_seconds - world.config.request_timeout_seconds

    real_claim = world.ledger.claim

    async def slow_claim(*args: Any, **kwargs: Any) -> Any:
        result = await real_claim(*args, **kwargs)
        world.timeline.advance(slow)  # the answer took its time (SDK retries, say)
        return result

    world.ledger.claim = slow_claim  # type: ignore[method-assign]
    await world.deliver(handle_create, message(independent()), world.deps(ledger=counting))

    assert counting.calls == ["claim", "mark_posted", "complete"]
    record = await world.ledger.get(Scope.CREATE, KEY)
    assert record is not None
    # The POST's deadline ends before the (renewed) claim does.
    (deadline,) = world.api.post_deadlines
    assert LEDGER_EPOCH + deadline < record.expires_at


async def test_the_post_deadline_never_outlives_the_claim() -> None:
    world = World(config=HandlerConfig(retry_budget_seconds=1_000.0, claim_ttl_seconds=60.0))

    await world.deliver(handle_create, message(independent()))

    record = await world.ledger.get(Scope.CREATE, KEY)
    assert record is not None
    (deadline,) = world.api.post_deadlines
    assert LEDGER_EPOCH + deadline <= record.expires_at - world.config.clock_margin_seconds


async def test_a_claim_lost_before_recording_publishes_nothing_itself() -> None:
    world = World()

    async def taken_over() -> None:  # our claim lapses and another worker takes the key
        world.timeline.advance(world.config.claim_ttl_seconds + 1)
        await world.ledger.claim(Scope.CREATE, KEY, owner="other", lineage="m-9", ttl=120.0)

    world.api.on_create = taken_over
    await world.handle_once(handle_create, message(independent()))

    assert world.kinds() == ["rescheduled"]
    assert world.deliveries[0].outcome is not None
    assert world.deliveries[0].outcome.error_code == "claim_lost"
    assert world.events() == []


# ---- L4: the same key with another body --------------------------------------------------------


async def test_the_same_key_with_another_body_is_rejected_naming_both_messages() -> None:
    world = World()
    await world.deliver(handle_create, message(independent(), message_id="m-first"))

    changed = independent(name="Another deal")
    await world.deliver(handle_create, message(changed, message_id="m-second"))

    (rejected,) = world.events(names.REFERRAL_REJECTED)
    assert rejected["data"]["messageId"] == "m-second"
    (error,) = rejected["data"]["errors"]
    assert (error["code"], error["path"]) == (
        "key_reused_with_different_body",
        "/externalReferenceId",
    )
    assert "m-first" in error["message"]
    assert world.api.calls == ["create"]
    record = await world.ledger.get(Scope.CREATE, KEY)
    assert record is not None
    assert record.body_hash == body_digest(independent())
    assert "Contoso" not in json.dumps(record.result)  # a hash, never the body


async def test_the_same_key_and_body_again_is_a_duplicate() -> None:
    world = World()
    await world.deliver(handle_create, message(independent(), message_id="m-first"))
    await world.deliver(handle_create, message(independent(), message_id="m-second"))

    assert world.kinds() == ["created", "duplicate"]
    assert len(world.events(names.REFERRAL_CREATED)) == 1


async def test_after_the_api_refused_a_body_a_corrected_one_may_use_the_key() -> None:
    world = World()
    world.api.create_faults = [refused()]
    await world.deliver(handle_create, message(independent(), message_id="m-first"))

    corrected = independent(name="Corrected")
    await world.deliver(handle_create, message(corrected, message_id="m-second"))

    assert world.kinds() == ["rejected", "created"]
    (rejected,) = world.events(names.REFERRAL_REJECTED)
    assert rejected["data"]["errors"][0]["code"] == "invalidEngagement"
    assert len(ours(world)) == 1


# ---- L5: no key at all ----------------------------------------------------------------------


async def test_a_message_with_neither_key_nor_message_id_gets_its_missing_key_rejection() -> None:
    world = World()
    body = independent()
    del body["externalReferenceId"]

    await world.deliver(handle_create, Message(json.dumps(body).encode(), message_id=None))

    (rejected,) = world.events(names.REFERRAL_REJECTED)
    assert rejected["data"]["errors"][0]["code"] == "missing_key"
    assert rejected["subject"].startswith("no-key:")
    assert world.api.calls == []


# ---- giving up: one final outcome ------------------------------------------------------------


async def test_a_give_up_after_throttling_says_no_referral_can_exist() -> None:
    world = World(config=HandlerConfig(max_attempts=3))
    world.api.create_faults = [throttled(), throttled(), throttled()]

    await world.deliver(handle_create, message(independent()))

    (failed,) = world.events(names.REFERRAL_FAILED)
    assert (failed["data"]["attempts"], failed["data"]["errorCode"]) == (3, "throttled")
    assert failed["data"]["referralMayExist"] is False  # nothing a 429 refused took effect
    assert world.api.calls == ["create"] * 3  # no look-ups: nothing was posted
    record = await world.ledger.get(Scope.CREATE, KEY)
    assert record is not None
    assert (record.state, record.posted) == (State.FAILED, False)
    assert world.dead_letters  # abandoned until Service Bus dead-letters it
    # ... and the redeliveries until then publish (and count) the give-up no more.
    assert len(world.publisher.of_type(names.REFERRAL_FAILED)) == 1


async def test_a_give_up_after_an_ambiguous_post_says_the_referral_may_exist() -> None:
    world = World(config=HandlerConfig(max_attempts=1))
    world.api.create_faults = [unavailable()]

    await world.deliver(handle_create, message(independent()))

    (failed,) = world.events(names.REFERRAL_FAILED)
    assert failed["data"]["referralMayExist"] is True


async def test_a_give_up_lost_between_ledger_and_send_is_sent_by_the_redelivery() -> None:
    world = World(config=HandlerConfig(max_attempts=1))
    world.api.create_faults = [throttled()]
    sends = 0
    real_publish = world.publisher.publish

    async def publish_fails_once(event: Any) -> None:
        nonlocal sends
        sends += 1
        if sends == 1:
            raise ConnectionError("the send failed")
        await real_publish(event)

    world.publisher.publish = publish_fails_once  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await world.handle_once(handle_create, message(independent()))
    assert world.events() == []

    await world.deliver(handle_create, message(independent(), delivery_count=2))

    (failed,) = world.events(names.REFERRAL_FAILED)
    assert failed["data"]["errorCode"] == "throttled"
    assert len(world.publisher.of_type(names.REFERRAL_FAILED)) == 1


async def test_a_success_after_a_give_up_names_the_give_up_it_replaces() -> None:
    # W3: the first message gave up, its resend succeeded; both looked final.
    world = World(config=HandlerConfig(max_attempts=1))
    world.api.create_faults = [throttled()]
    await world.deliver(handle_create, message(independent(), message_id="m-first"))

    await world.deliver(handle_create, message(independent(), message_id="m-resend"))

    (failed,) = world.events(names.REFERRAL_FAILED)
    (created,) = world.events(names.REFERRAL_CREATED)
    assert created["data"]["supersedes"] == failed["id"]
    assert world.final_outcomes() == ["referral-failed", "referral-created"]


async def test_a_give_up_that_lost_its_claim_publishes_nothing_and_the_success_stands() -> None:
    # W3 the other way round: the resend succeeded while the first still held a lapsed claim.
    world = World(config=HandlerConfig(max_attempts=1))

    async def resend_succeeds_meanwhile(api: Any, body: Any) -> None:
        world.timeline.advance(world.config.claim_ttl_seconds + 1)
        world.api.create_faults = []
        await world.deliver(handle_create, message(independent(), message_id="m-resend"))
        raise RequestTimedOut("create", ambiguous=False)

    world.api.create_faults = [resend_succeeds_meanwhile]
    await world.deliver(handle_create, message(independent(), message_id="m-first"))

    assert world.events(names.REFERRAL_FAILED) == []
    assert world.final_outcomes() == ["referral-created"]
    assert len(ours(world)) == 1


async def test_waiting_for_a_holder_spends_no_attempt() -> None:
    world = World()
    await world.ledger.claim(Scope.CREATE, KEY, owner="crashed", lineage="m-0", ttl=120.0)

    await world.handle_once(handle_create, message(independent()))

    (copy_,) = world.publisher.scheduled
    assert copy_.application_properties[names.PROP_ATTEMPT] == 0
    assert copy_.application_properties[names.PROP_WAITS] == 1
    assert copy_.enqueue_at is not None
    assert copy_.enqueue_at.timestamp() >= LEDGER_EPOCH + 120.0  # after the claim lapses


@pytest.mark.parametrize("step", ["claimed", "posted", "recorded", "published"])
async def test_a_crash_after_any_step_still_gives_one_referral_and_one_outcome(step: str) -> None:
    from local_host.host import WorkerCrash

    world = World()
    crashed = False

    async def crash(at: str) -> None:
        nonlocal crashed
        if at == step and not crashed:
            crashed = True
            raise WorkerCrash

    with pytest.raises(WorkerCrash):
        await world.deliver(handle_create, message(independent()), world.deps(checkpoint=crash))
    world.timeline.advance(60.0)  # the lock lapses; the claim may still be live
    await world.deliver(handle_create, message(independent(), delivery_count=2))

    assert len(ours(world)) == 1
    assert world.final_outcomes() == ["referral-created"]


async def test_a_claim_that_cannot_be_renewed_in_time_is_not_used_to_post() -> None:
    world = World()
    real_mark = world.ledger.mark_posted

    async def slow_renewal(record: Any, *, ttl: float) -> Any:
        renewed = await real_mark(record, ttl=ttl)
        world.timeline.advance(ttl - world.config.request_timeout_seconds)  # a slow answer
        return renewed

    async def slow_claim_answer(*args: Any, **kwargs: Any) -> Any:
        result = await real_claim(*args, **kwargs)
        world.timeline.advance(world.config.claim_ttl_seconds)  # the claim is nearly gone
        return result

    real_claim = world.ledger.claim
    world.ledger.claim = slow_claim_answer  # type: ignore[method-assign]
    world.ledger.mark_posted = slow_renewal  # type: ignore[method-assign]
    await world.handle_once(handle_create, message(independent()))

    assert world.api.calls == []
    (delivery,) = world.deliveries
    assert delivery.outcome is not None
    assert (delivery.outcome.kind, delivery.outcome.error_code) == (
        "rescheduled",
        "claim_too_short",
    )
    record = await world.ledger.get(Scope.CREATE, KEY)
    assert record is not None
    assert not record.posted  # nothing was sent: the mark is taken back


async def test_a_copy_past_its_attempts_gives_up_at_once_under_the_claim() -> None:
    # It crashed on its last attempt: the next delivery makes no more calls.
    world = World(config=HandlerConfig(max_attempts=3))
    props = {names.PROP_ATTEMPT: 3, names.PROP_ORIGINAL_MESSAGE_ID: "m-1"}

    await world.deliver(handle_create, message(independent(), application_properties=props))

    assert world.api.calls == []
    (failed,) = world.events(names.REFERRAL_FAILED)
    assert (failed["data"]["errorCode"], failed["data"]["referralMayExist"]) == (
        "attempts_exhausted",
        False,
    )


async def test_a_holder_that_outlasts_every_wait_costs_the_waiter_an_attempt() -> None:
    world = World(config=HandlerConfig(max_attempts=3))
    await world.ledger.claim(Scope.CREATE, KEY, owner="stuck", lineage="m-0", ttl=10_000.0)
    props = {names.PROP_WAITS: MAX_WAITS, names.PROP_ATTEMPT: 0}

    await world.handle_once(handle_create, message(independent(), application_properties=props))

    (copy_,) = world.publisher.scheduled
    assert copy_.application_properties[names.PROP_ATTEMPT] == 1
    assert copy_.application_properties[names.PROP_WAITS] == 0


async def test_past_its_attempts_a_waiter_reports_what_the_ledger_says() -> None:
    world = World(config=HandlerConfig(max_attempts=3))
    await world.ledger.claim(
        Scope.CREATE, KEY, owner="stuck", lineage="m-0", ttl=10_000.0, posting=True
    )
    props = {names.PROP_WAITS: MAX_WAITS, names.PROP_ATTEMPT: 2}

    await world.handle_once(handle_create, message(independent(), application_properties=props))

    (failed,) = world.events(names.REFERRAL_FAILED)
    assert (failed["data"]["errorCode"], failed["data"]["referralMayExist"]) == (
        "claim_busy",
        True,
    )
