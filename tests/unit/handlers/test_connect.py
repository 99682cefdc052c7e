"""The exactly-once core through connect_referral: Microsoft's referral once per engagement, in
three calls for a co-sell, waiting inside the invocation where create would schedule a copy."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from typing import Any

from shared import names
from shared.contracts.referral import MICROSOFT_TARGET
from shared.handlers.common import HandlerConfig
from shared.handlers.connect import COPIED_FIELDS, handle_connect
from shared.handlers.create import handle_create
from shared.ledger.port import Scope
from shared.partner_api.errors import NotFound, ServiceUnavailable
from tests.conftest import REQUEST_EXAMPLE
from tests.unit.handlers.fakes import (
    Message,
    World,
    lost_answer,
    message,
    microsoft_referrals,
    unavailable,
)

KEY = "crm-2002"


def shared(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(REQUEST_EXAMPLE)
    body.update(externalReferenceId=KEY, **changes)
    return body


async def created_event(world: World, body: dict[str, Any] | None = None) -> Message:
    """Run create for a co-sell body; return its `referral-created` as connect receives it."""
    await world.deliver(handle_create, message(body or shared()))
    (event,) = [e for e in world.publisher.events if e.type == names.REFERRAL_CREATED]
    world.api.calls.clear()
    world.deliveries.clear()
    return Message(event.body, message_id=event.event_id, correlation_id="c-1")


async def test_a_co_sell_costs_three_calls_in_all() -> None:
    world = World()
    await world.deliver(handle_create, message(shared()))
    (event,) = [e for e in world.publisher.events if e.type == names.REFERRAL_CREATED]

    await world.deliver(handle_connect, Message(event.body, message_id=event.event_id))

    # POST ours; GET ours by id (the body to copy); POST Microsoft's. No engagement list.
    assert world.api.calls == ["create", "get", "create"]
    (connected,) = world.events(names.REFERRAL_CONNECTED)
    (microsoft,) = microsoft_referrals(world.api.referrals())
    assert connected["data"]["connectedReferralId"] == microsoft["id"]
    assert connected["data"]["adopted"] is False
    assert microsoft["engagementId"] == json.loads(event.body)["data"]["engagementId"]


async def test_a_named_engagement_is_looked_at_first_and_microsofts_referral_adopted() -> None:
    world = World()
    engagement = "5c1b7d4e-0000-4000-8000-00000000abcd"
    existing = world.api.commit(
        {"engagementId": engagement, "type": "Shared", "target": [dict(MICROSOFT_TARGET)]}
    )
    msg = await created_event(world, shared(engagementId=engagement))

    await world.deliver(handle_connect, msg)

    assert world.api.calls == ["list"]  # found: nothing to read, nothing to post
    (connected,) = world.events(names.REFERRAL_CONNECTED)
    assert (connected["data"]["connectedReferralId"], connected["data"]["adopted"]) == (
        existing["id"],
        True,
    )


async def test_only_a_microsoft_referral_on_exactly_this_engagement_is_adopted() -> None:
    # D3: connect's look-up did not check the engagement: with a filter the service ignores, it
    # would adopt another customer's Microsoft referral and record it as ours.
    world = World()
    elsewhere = world.api.commit(
        {
            "engagementId": "99999999-0000-4000-8000-000000000000",
            "type": "Shared",
            "target": [dict(MICROSOFT_TARGET)],
        }
    )
    engagement = "5c1b7d4e-0000-4000-8000-00000000abcd"
    msg = await created_event(world, shared(engagementId=engagement))
    world.api.list_mode = "ignore"

    await world.deliver(handle_connect, msg)

    (connected,) = world.events(names.REFERRAL_CONNECTED)
    assert connected["data"]["connectedReferralId"] != elsewhere["id"]
    assert connected["data"]["adopted"] is False
    mine = [
        r for r in microsoft_referrals(world.api.referrals()) if r["engagementId"] == engagement
    ]
    assert len(mine) == 1


async def test_a_read_back_with_server_written_empties_still_connects() -> None:
    # Issue 12 §2: ours read back with `size: ""`, a Duns placeholder, nulls and server fields
    # was re-validated with the strict request contract, and the co-sell never connected.
    world = World()
    msg = await created_event(world)
    profile = copy.deepcopy(REQUEST_EXAMPLE["customerProfile"])
    profile.update(size="", ids=[{"profileType": "Duns", "id": ""}], isMatchingComplete=True)
    world.api.shape = {
        "customerProfile": profile,
        "externalReferenceId": None,
        "salesStage": None,
        "expirationDateTime": None,
        "createdVia": "Api",
    }

    await world.deliver(handle_connect, msg)

    assert world.events(names.REFERRAL_REJECTED) == []
    (connected,) = world.events(names.REFERRAL_CONNECTED)
    (microsoft,) = microsoft_referrals(world.api.referrals())
    assert connected["data"]["connectedReferralId"] == microsoft["id"]
    # Only what a create request may carry was posted (the fake adds id and status).
    posted = set(microsoft) - {"id", "status"}
    assert posted <= {*COPIED_FIELDS, "type", "engagementId", "target"}
    assert "isMatchingComplete" not in microsoft["customerProfile"]


async def test_our_referral_not_readable_yet_is_retried_never_rejected() -> None:
    world = World()
    msg = await created_event(world)
    world.api.get_faults = [NotFound("get", status=404)]

    await world.deliver(handle_connect, msg)

    assert world.events(names.REFERRAL_REJECTED) == []
    assert [d.outcome.error_code for d in world.deliveries if d.outcome] == ["read_failed", None]
    assert len(world.events(names.REFERRAL_CONNECTED)) == 1


async def test_after_a_ledger_failure_the_redelivery_waits_for_the_claim_and_adopts() -> None:
    # W1: one ledger write failure after Microsoft's POST, and every redelivery met the live
    # claim, counted an attempt and ended `referral-failed` with referralMayExist false.
    world = World()
    msg = await created_event(world)
    real_complete = world.ledger.complete
    failures = 0

    async def complete_fails_once(record: Any, **kwargs: Any) -> Any:
        nonlocal failures
        if record.scope is Scope.CONNECT and failures == 0:
            failures += 1
            raise TimeoutError("the table did not answer")
        return await real_complete(record, **kwargs)

    world.ledger.complete = complete_fails_once  # type: ignore[method-assign]
    with contextlib.suppress(TimeoutError):
        await world.handle_once(handle_connect, msg)
    await world.deliver(
        handle_connect, Message(msg.body, message_id=msg.message_id, delivery_count=2)
    )

    assert world.events(names.REFERRAL_FAILED) == []
    (connected,) = world.events(names.REFERRAL_CONNECTED)
    assert connected["data"]["adopted"] is True
    assert len(microsoft_referrals(world.api.referrals())) == 1
    assert sum(world.clock.slept) >= world.config.claim_ttl_seconds  # it waited, in-process
    assert world.api.count("create") == 1


async def test_two_deliveries_of_one_message_give_one_connected_and_no_failure() -> None:
    # W1: a lost lock gave both failed and connected.
    world = World()
    msg = await created_event(world)
    in_flight, finish = asyncio.Event(), asyncio.Event()

    async def hold_the_post() -> None:
        in_flight.set()
        await finish.wait()

    world.api.on_create = hold_the_post
    first = asyncio.ensure_future(world.handle_once(handle_connect, msg))
    await in_flight.wait()
    world.api.on_create = None
    second = asyncio.ensure_future(
        world.handle_once(handle_connect, Message(msg.body, message_id=msg.message_id))
    )
    while not world.clock.slept:  # noqa: ASYNC110 - until the second waits for the first
        await asyncio.sleep(0)
    finish.set()
    await asyncio.gather(first, second)

    assert world.kinds() == ["connected", "connected"]  # the same lineage: both report it
    assert len(world.events(names.REFERRAL_CONNECTED)) == 1  # one event id
    assert world.events(names.REFERRAL_FAILED) == []
    assert world.api.count("create") == 1


async def test_an_ambiguous_post_is_looked_up_after_a_wait_inside_the_invocation() -> None:
    world = World()
    msg = await created_event(world)
    world.api.create_faults = [lost_answer(commit_after=20.0)]

    await world.deliver(handle_connect, msg)

    assert world.api.count("create") == 1
    assert len(microsoft_referrals(world.api.referrals())) == 1
    (connected,) = world.events(names.REFERRAL_CONNECTED)
    assert connected["data"]["adopted"] is True
    assert world.config.relookup_delays_seconds[0] in world.clock.slept


async def test_a_wait_longer_than_the_invocation_may_take_abandons_the_message() -> None:
    world = World(config=HandlerConfig(max_wait_in_invocation_seconds=130.0))
    msg = await created_event(world)
    world.api.create_faults = [unavailable()]  # nothing created: three paced look-ups, then POST

    await world.deliver(handle_connect, msg)

    # Delays 30, 60, 120: the last no longer fits after the first two; the redelivery waits it.
    assert world.clock.slept == [30.0, 60.0, 120.0]
    assert "awaiting_lookup" in [d.outcome.error_code for d in world.deliveries if d.outcome]
    assert len(microsoft_referrals(world.api.referrals())) == 1
    assert len(world.events(names.REFERRAL_CONNECTED)) == 1


async def test_a_connect_that_never_posted_gives_up_saying_nothing_exists() -> None:
    world = World(config=HandlerConfig(max_attempts=3))
    msg = await created_event(world)
    world.api.get_faults = [ServiceUnavailable("get", status=503) for _ in range(10)]

    await world.deliver(handle_connect, msg)

    (failed,) = world.events(names.REFERRAL_FAILED)
    assert (failed["data"]["stage"], failed["data"]["attempts"]) == ("connect", 3)
    assert failed["data"]["referralMayExist"] is False
    assert world.dead_letters


async def test_a_replayed_connect_after_a_give_up_supersedes_it() -> None:
    world = World(config=HandlerConfig(max_attempts=1))
    msg = await created_event(world)
    world.api.get_faults = [ServiceUnavailable("get", status=503)]
    await world.deliver(handle_connect, msg)

    # `dlq replay --as-new`: the same event under a new MessageId.
    await world.deliver(handle_connect, Message(msg.body, message_id="replayed"))

    (failed,) = world.events(names.REFERRAL_FAILED)
    (connected,) = world.events(names.REFERRAL_CONNECTED)
    assert connected["data"]["supersedes"] == failed["id"]


async def test_an_independent_referral_is_skipped() -> None:
    world = World()
    msg = await created_event(world, shared(type="Independent"))

    await world.deliver(handle_connect, msg)

    assert world.kinds() == ["skipped"]
    assert world.api.calls == []
