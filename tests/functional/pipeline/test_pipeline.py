"""Issue 5 §9: a published referral becomes its Partner Center referral(s) once, whatever fails."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from local_host.broker import BrokerMessage
from local_host.host import WorkerCrash
from local_host.partner import PartnerConnection
from local_host.stack import LocalStack, local_stack
from partner_sandbox.app import Sandbox
from partner_sandbox.faults import Fault
from shared import names
from shared.contracts.referral import MICROSOFT_TARGET, Referral
from shared.partner_api.port import PartnerApi
from tests.functional.pipeline.conftest import FAST


def body(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


def stored(partner: PartnerConnection) -> list[Referral]:
    assert partner.app is not None
    sandbox = partner.app.sandbox
    org = sandbox.config.default_organization.id
    return [Referral.model_validate(r) for r in sandbox.store.select(org)]


def api_requests(partner: PartnerConnection) -> int:
    assert partner.app is not None
    requests = partner.app.sandbox.stats()["requests"]
    api_routes = ("create", "list", "get", "update", "replace")  # not the token endpoints
    return sum(sum(v.values()) for route, v in requests.items() if route in api_routes)


def events(stack: LocalStack, event_type: str) -> list[dict[str, Any]]:
    return [json.loads(e.body) for e in stack.publisher.of_type(event_type)]


async def test_documented_example_becomes_two_connected_referrals(
    stack: LocalStack, partner: PartnerConnection, request_example: dict[str, Any]
) -> None:
    request_example["externalReferenceId"] = "crm-2001"
    message_id = stack.publish(body(request_example))
    assert await stack.drain()
    referrals = stored(partner)
    assert len(referrals) == 2
    ours, microsoft = sorted(referrals, key=lambda r: r.targets_microsoft())
    assert ours.engagementId == microsoft.engagementId
    assert microsoft.targets_microsoft()
    assert not ours.targets_microsoft()
    assert ours.externalReferenceId == "crm-2001"
    result = stack.result("example", message_id)
    assert result.outcome == "connected"
    assert (result.referral_id, result.connected_referral_id) == (ours.id, microsoft.id)
    # Both are found by the engagement filter, as the fact sheet says.
    found = [
        r.id
        async for r in partner.api.list_referrals(
            filter=f"engagementId eq '{ours.engagementId}'", correlation_id="t", deadline=1e12
        )
    ]
    assert sorted(map(str, found)) == sorted([str(ours.id), str(microsoft.id)])
    (connected,) = events(stack, names.REFERRAL_CONNECTED)
    assert connected["subject"] == "crm-2001"


async def test_independent_referral_is_created_without_connect(
    stack: LocalStack, partner: PartnerConnection, request_example: dict[str, Any]
) -> None:
    request_example["type"] = "Independent"
    message_id = stack.publish(body(request_example))
    assert await stack.drain()
    assert len(stored(partner)) == 1
    assert stack.result("x", message_id).outcome == "created"
    assert not [i for i in stack.log.invocations if i.function == "connect_referral"]
    assert api_requests(partner) == 1  # the POST; no lookup, no connect


async def test_invalid_message_is_rejected_without_any_api_call(
    stack: LocalStack, partner: PartnerConnection, request_example: dict[str, Any]
) -> None:
    request_example["customerProfile"]["address"]["country"] = "USA"
    message_id = stack.publish(body(request_example))
    assert await stack.drain()
    (rejected,) = events(stack, names.REFERRAL_REJECTED)
    assert rejected["data"]["errors"][0]["path"] == "/customerProfile/address/country"
    assert rejected["data"]["stage"] == "validation"
    assert api_requests(partner) == 0
    assert stack.result("x", message_id).outcome == "rejected"
    assert stack.dead_letters() == 0


async def test_the_same_message_published_twice_creates_one_referral(
    stack: LocalStack, partner: PartnerConnection, request_example: dict[str, Any]
) -> None:
    request_example["externalReferenceId"] = "crm-dup"
    first = stack.publish(body(request_example))
    second = stack.publish(body(request_example))
    assert await stack.drain()
    assert len(stored(partner)) == 2  # ours + Microsoft's, once
    outcomes = {stack.result("a", first).outcome, stack.result("b", second).outcome}
    assert outcomes == {"connected", "duplicate"}


async def test_without_external_id_a_redelivery_still_finds_its_referral(
    partner: PartnerConnection, request_example: dict[str, Any]
) -> None:
    crashed = False

    async def crash_once_after_post(step: str) -> None:
        nonlocal crashed
        if step == "posted" and not crashed:
            crashed = True
            raise WorkerCrash

    request_example["type"] = "Independent"
    async with local_stack(partner.api, config=FAST, checkpoint=crash_once_after_post) as stack:
        message_id = stack.publish(body(request_example))
        assert await stack.drain()
        assert crashed
        (referral,) = stored(partner)
        assert referral.externalReferenceId == message_id  # set so a redelivery can look it up
        assert stack.result("x", message_id).outcome == "created"


@pytest.mark.parametrize("step", ["claimed", "posted", "recorded", "published"])
async def test_a_crash_after_any_step_still_gives_exactly_one_of_each(
    partner: PartnerConnection, request_example: dict[str, Any], step: str
) -> None:
    crashes: list[str] = []

    async def crash(at: str) -> None:
        if at == step and len(crashes) < 2:  # the first hit is create's, the second connect's
            crashes.append(at)
            raise WorkerCrash

    request_example["externalReferenceId"] = f"crm-crash-{step}"
    async with local_stack(partner.api, config=FAST, checkpoint=crash) as stack:
        message_id = stack.publish(body(request_example))
        assert await stack.drain()
        assert len(crashes) == 2
        referrals = stored(partner)
        assert len(referrals) == 2
        assert sum(r.targets_microsoft() for r in referrals) == 1
        result = stack.result("x", message_id)
        assert result.outcome == "connected"
        assert len({e["id"] for e in events(stack, names.REFERRAL_CREATED)}) == 1
        assert stack.dead_letters() == 0


async def test_throttling_with_retry_after_waits_then_succeeds(
    stack: LocalStack, partner: PartnerConnection, request_example: dict[str, Any]
) -> None:
    assert partner.app is not None
    partner.app.sandbox.faults.script(Fault.THROTTLE, "create", 1)
    request_example["type"] = "Independent"
    message_id = stack.publish(body(request_example))
    assert await stack.drain()
    assert stack.result("x", message_id).outcome == "created"
    assert partner.app.sandbox.stats()["requests"]["create"] == {"429": 1, "200": 1}
    assert len(stored(partner)) == 1


async def test_persistent_503_fails_and_dead_letters_after_the_configured_attempts(
    stack: LocalStack, partner: PartnerConnection, request_example: dict[str, Any]
) -> None:
    from partner_sandbox import FaultSpec

    assert partner.app is not None
    partner.app.sandbox.faults.configure(spec=FaultSpec.parse("503=1,retry-after=0.2"))
    request_example["type"] = "Independent"
    message_id = stack.publish(body(request_example))
    assert await stack.drain()
    (failed,) = events(stack, names.REFERRAL_FAILED)
    assert failed["data"]["attempts"] == FAST.max_attempts
    assert failed["data"]["errorCode"] in ("unavailable", "serviceNotAvailable")
    # A 503 to a POST does not say whether it was created: the CRM is told it may exist.
    assert failed["data"]["referralMayExist"] is True
    queue = stack.broker.entity(names.REQUESTS_QUEUE)
    (dead,) = queue.dead_letters
    assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"
    assert dead.application_properties[names.PROP_ORIGINAL_MESSAGE_ID] == message_id
    assert stack.result("x", message_id).outcome == "failed"
    assert stored(partner) == []


async def test_a_failure_before_any_post_says_the_referral_cannot_exist(
    stack: LocalStack, partner: PartnerConnection, request_example: dict[str, Any]
) -> None:
    assert partner.app is not None
    # Co-sell: ours is created, then reading it back (before any POST of Microsoft's) never works.
    partner.app.sandbox.faults.script(Fault.UNAVAILABLE, "get", 100)
    stack.publish(body(request_example))
    assert await stack.drain()
    (failed,) = events(stack, names.REFERRAL_FAILED)
    assert failed["data"]["stage"] == "connect"
    assert failed["data"]["referralMayExist"] is False
    assert sum(r.targets_microsoft() for r in stored(partner)) == 0


class LostAnswerThenOutage:
    """The Partner API port, except that Microsoft's first POST takes effect but its answer is
    lost, and from then on no lookup works (until the sandbox's faults are reset)."""

    def __init__(self, api: PartnerApi, sandbox: Sandbox) -> None:
        self._api = api
        self._sandbox = sandbox
        self._struck = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    async def create_referral(self, body: dict[str, Any], **options: Any) -> Referral:
        if self._struck or MICROSOFT_TARGET not in body.get("target", []):
            return await self._api.create_referral(body, **options)
        self._struck = True
        self._sandbox.faults.script(Fault.LOST, "create", 1)
        try:
            return await self._api.create_referral(body, **options)
        finally:
            self._sandbox.faults.script(Fault.UNAVAILABLE, "list", 100)


async def test_a_failed_connect_replayed_as_new_finds_what_its_lost_answer_created(
    partner: PartnerConnection, request_example: dict[str, Any]
) -> None:
    from relay_cli.commands.dlq import plan_replay
    from relay_cli.operator.ports import CONNECT, DeadLetter

    app = partner.app
    assert app is not None
    api = LostAnswerThenOutage(partner.api, app.sandbox)
    async with local_stack(cast(PartnerApi, api), config=FAST) as stack:
        stack.publish(body(request_example))
        assert await stack.drain()
        (failed,) = events(stack, names.REFERRAL_FAILED)
        assert (failed["data"]["stage"], failed["data"]["referralMayExist"]) == ("connect", True)
        assert sum(r.targets_microsoft() for r in stored(partner)) == 1  # it does exist
        subscription = stack.broker.entity(
            topic=names.EVENTS_TOPIC, subscription=names.CONNECT_SUBSCRIPTION
        )
        (dead,) = subscription.dead_letters

        app.sandbox.faults.reset()  # the outage is over: replay the dead letter as new
        letter = DeadLetter(
            sequence_number=dead.sequence_number,
            message_id=dead.message_id,
            correlation_id=dead.correlation_id,
            subject=dead.subject,
            content_type=dead.content_type,
            reason=dead.dead_letter_reason,
            description=dead.dead_letter_description,
            delivery_count=dead.delivery_count,
            enqueued_time=dead.enqueued_time,
            application_properties=dead.application_properties,
            body=dead.body,
        )
        copy = plan_replay(letter, entity=CONNECT, now=stack.broker.utcnow(), as_new=True).copy
        assert copy is not None
        resent = BrokerMessage(
            body=copy.body,
            message_id=copy.message_id,
            correlation_id=copy.correlation_id,
            subject=copy.subject,
            content_type=copy.content_type,
            application_properties=dict(copy.application_properties),
        )
        assert stack.broker.send(names.EVENTS_TOPIC, resent)
        assert await stack.drain()

        # The new lineage looked first and found the referral the lost answer had created.
        (connected,) = events(stack, names.REFERRAL_CONNECTED)
        (microsoft,) = [r for r in stored(partner) if r.targets_microsoft()]
        assert connected["data"]["connectedReferralId"] == microsoft.id
        assert app.sandbox.stats()["requests"]["create"] == {"200": 1, "lost": 1}


async def test_a_400_from_the_api_is_rejected_with_the_api_errors(
    stack: LocalStack, partner: PartnerConnection, request_example: dict[str, Any]
) -> None:
    # Valid for us, refused by Partner Center: the engagement it names does not exist.
    request_example["engagementId"] = "00000000-0000-0000-0000-000000000000"
    message_id = stack.publish(body(request_example))
    assert await stack.drain()
    (rejected,) = events(stack, names.REFERRAL_REJECTED)
    assert rejected["data"]["stage"] == "create"
    assert rejected["data"]["httpStatus"] == 400
    assert any(e["path"] == "/engagementId" for e in rejected["data"]["errors"])
    assert stack.result("x", message_id).outcome == "rejected"
    assert stored(partner) == []


@pytest.mark.azurite
async def test_the_pipeline_on_the_table_storage_ledger(
    partner: PartnerConnection, request_example: dict[str, Any], azurite_table: str
) -> None:
    from shared.ledger.table import ServerClock, TableLedger
    from tests.support.azurite import unique_table_name

    crashes: list[str] = []

    async def crash_after_post(at: str) -> None:
        if at == "posted" and len(crashes) < 2:
            crashes.append(at)
            raise WorkerCrash

    ledger = TableLedger.from_connection_string(azurite_table, unique_table_name("pipeline"))
    request_example["externalReferenceId"] = "crm-on-table"
    try:
        async with local_stack(
            partner.api, config=FAST, checkpoint=crash_after_post, ledger=ledger
        ) as stack:
            broker = stack.broker

            class WarpedClock(ServerClock):
                """Azurite's clock cannot follow the broker's time warp: let claims do."""

                def now(self) -> float:
                    return broker.now()

            ledger.clock = WarpedClock()
            first = stack.publish(body(request_example))
            second = stack.publish(body(request_example))
            assert await stack.drain()
            assert len(crashes) == 2
            assert len(stored(partner)) == 2
            outcomes = {stack.result("a", first).outcome, stack.result("b", second).outcome}
            assert outcomes == {"connected", "duplicate"}
    finally:
        await ledger.close()
