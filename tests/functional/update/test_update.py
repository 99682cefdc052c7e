"""Issue 14 §1: updates and closes from the CRM, against the sandbox through the real functions."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import pytest

from local_host.partner import PartnerConnection
from local_host.stack import LocalStack, local_stack
from shared import names
from shared.contracts.referral import Referral
from shared.partner_api.port import PartnerApi
from tests.functional.pipeline.conftest import FAST
from tests.functional.update.conftest import admin, body, events, patches, send_update, stored

KEY = "crm-upd-1"
SELLER = {"firstName": "Sam", "lastName": "Lee", "email": "sam.lee@contoso.example"}


@pytest.fixture
def independent(request_example: dict[str, Any]) -> dict[str, Any]:
    request_example.update(type="Independent", externalReferenceId=KEY)
    return request_example


async def create(stack: LocalStack, referral: dict[str, Any]) -> str:
    message_id = stack.publish(body(referral))
    assert await stack.drain()
    result = stack.result("create", message_id)
    assert result.outcome == "created", result
    assert result.referral_id
    return result.referral_id


def updated(stack: LocalStack) -> list[dict[str, Any]]:
    return [e["data"] for e in events(stack, names.REFERRAL_UPDATED)]


def rejected(stack: LocalStack) -> list[dict[str, Any]]:
    return [e["data"] for e in events(stack, names.REFERRAL_REJECTED)]


async def test_every_update_kind_by_external_reference_id(
    stack: LocalStack, partner: PartnerConnection, independent: dict[str, Any]
) -> None:
    referral_id = await create(stack, independent)
    update = {
        "ExternalReferenceId": KEY,  # names bind in any case, as on create
        "sourceUpdatedAt": "2027-01-05T10:00:00Z",
        "details": {
            "dealValue": "250000",
            "currency": "eur",
            "closingDateTime": "2027-06-30",
            "notes": "Scope grew to three plants.",
            "requirements": {"solutions": [{"id": "SOL-99999-XYZ"}]},
        },
        "salesStage": "Propose",
        "campaignId": "CAMP-2027",
        "statusReason": "",  # "" is not given
        "consent": {"consentToShareReferralWithMicrosoftSellers": "false"},
        "team": [SELLER],
        "customerProfile": {"team": [{"firstName": "Kim", "email": "kim@fabrikam.example"}]},
    }

    message_id = send_update(stack, update)
    assert await stack.drain()

    assert stack.log.update_result_for("u", message_id).outcome == "updated"
    (event,) = updated(stack)
    assert event["result"] == "applied"
    assert event["referralId"] == referral_id
    assert set(event["changedPaths"]) == {
        "/details/dealValue",
        "/details/currency",
        "/details/closingDateTime",
        "/details/notes",
        "/details/requirements/solutions/-",
        "/salesStage",
        "/campaignId",
        "/consent/consentToShareReferralWithMicrosoftSellers",
        "/team/-",
        "/customerProfile/team/-",
    }
    assert "sam.lee" not in str(event)
    assert "kim@" not in str(event)
    now = await stored(partner, referral_id)
    assert now["details"]["dealValue"] == 250000
    assert now["details"]["currency"] == "EUR"
    assert now["details"]["closingDateTime"].startswith("2027-06-30T00:00:00")
    assert now["details"]["notes"] == "Scope grew to three plants."
    assert now["details"]["requirements"]["solutions"][-1]["id"] == "SOL-99999-XYZ"
    assert (now["salesStage"], now["campaignId"]) == ("Propose", "CAMP-2027")
    assert now["consent"]["consentToShareReferralWithMicrosoftSellers"] is False
    assert now["team"][-1]["email"] == SELLER["email"]
    assert now["customerProfile"]["team"][-1]["email"] == "kim@fabrikam.example"
    assert patches(partner) == 1


async def test_close_won_by_referral_id_then_the_same_update_again_is_a_no_op(
    stack: LocalStack, partner: PartnerConnection, independent: dict[str, Any]
) -> None:
    referral_id = await create(stack, independent)
    close = {"referralId": referral_id, "status": "Closed", "substatus": "Won"}

    first = send_update(stack, close)
    assert await stack.drain()
    second = send_update(stack, copy.deepcopy(close))  # another message, same change
    assert await stack.drain()

    now = await stored(partner, referral_id)
    assert (now["status"], now["substatus"]) == ("Closed", "Won")
    assert now["closedDateTime"] is not None
    assert patches(partner) == 1  # the repeat computed an empty patch: no call
    results = [stack.log.update_result_for("u", m).outcome for m in (first, second)]
    assert results == ["updated", "unchanged"]
    applied, repeat = updated(stack)
    assert (applied["status"], applied["substatus"]) == ("Closed", "Won")
    assert set(applied["changedPaths"]) == {"/status", "/substatus"}
    assert (repeat["result"], repeat["changedPaths"]) == ("unchanged", [])


async def test_a_redelivered_message_publishes_one_event(
    stack: LocalStack, partner: PartnerConnection, independent: dict[str, Any]
) -> None:
    referral_id = await create(stack, independent)
    update = {"referralId": referral_id, "details": {"notes": "v2"}}

    send_update(stack, update, message_id="upd-1")
    assert await stack.drain()
    send_update(stack, update, message_id="upd-1")  # the same MessageId: the queue drops it
    assert await stack.drain()

    assert len(updated(stack)) == 1
    assert patches(partner) == 1


async def test_a_stale_update_is_skipped(
    stack: LocalStack, partner: PartnerConnection, independent: dict[str, Any]
) -> None:
    referral_id = await create(stack, independent)
    newer = {"externalReferenceId": KEY, "sourceUpdatedAt": "2027-02-01T12:00:00Z"}
    older = {"externalReferenceId": KEY, "sourceUpdatedAt": "2027-02-01T11:59:59.5+00:00"}

    send_update(stack, {**newer, "details": {"dealValue": 2}})
    assert await stack.drain()
    late = send_update(stack, {**older, "details": {"dealValue": 1}, "salesStage": "Qualify"})
    assert await stack.drain()

    now = await stored(partner, referral_id)
    assert now["details"]["dealValue"] == 2
    assert now["salesStage"] != "Qualify"
    assert stack.log.update_result_for("u", late).outcome == "stale"
    assert [e["result"] for e in updated(stack)] == ["applied", "stale"]
    assert patches(partner) == 1


async def test_the_same_source_time_is_not_stale(
    stack: LocalStack, partner: PartnerConnection, independent: dict[str, Any]
) -> None:
    referral_id = await create(stack, independent)
    at = "2027-02-01T12:00:00Z"

    send_update(stack, {"referralId": referral_id, "sourceUpdatedAt": at, "salesStage": "Develop"})
    assert await stack.drain()
    send_update(stack, {"referralId": referral_id, "sourceUpdatedAt": at, "campaignId": "C-1"})
    assert await stack.drain()

    now = await stored(partner, referral_id)
    assert (now["salesStage"], now["campaignId"]) == ("Develop", "C-1")


async def test_a_closed_referral_is_frozen(
    stack: LocalStack, partner: PartnerConnection, independent: dict[str, Any]
) -> None:
    referral_id = await create(stack, independent)
    await admin(partner, f"/referrals/{referral_id}/close", {"substatus": "Lost"})

    message_id = send_update(stack, {"referralId": referral_id, "details": {"dealValue": 9}})
    assert await stack.drain()

    assert stack.log.update_result_for("u", message_id).outcome == "rejected"
    (rejection,) = rejected(stack)
    assert rejection["stage"] == "update"
    assert rejection["errors"][0]["code"] == "referral_closed"
    assert patches(partner) == 0  # refused before the call


async def test_a_transition_outside_the_status_table_is_refused_before_the_call(
    stack: LocalStack, partner: PartnerConnection, independent: dict[str, Any]
) -> None:
    referral_id = await create(stack, independent)
    await admin(partner, f"/referrals/{referral_id}/accept", {})

    send_update(stack, {"referralId": referral_id, "status": "New", "substatus": "Pending"})
    assert await stack.drain()

    (rejection,) = rejected(stack)
    assert (rejection["stage"], rejection["errors"][0]["code"]) == ("update", "invalid_transition")
    assert patches(partner) == 0


async def test_a_status_change_takes_the_only_substatus_that_fits(
    stack: LocalStack, partner: PartnerConnection, independent: dict[str, Any]
) -> None:
    referral_id = await create(stack, independent)

    send_update(stack, {"referralId": referral_id, "status": "Active"})
    assert await stack.drain()

    now = await stored(partner, referral_id)
    assert (now["status"], now["substatus"]) == ("Active", "Accepted")


class ChangesUnderUs:
    """The real client, with Microsoft's seller acting between our GET and our PATCH: the first
    `times` GETs are followed by an admin action on the referral (a new eTag)."""

    def __init__(self, api: PartnerApi, act: Callable[[str], Awaitable[None]], times: int):
        self._api = api
        self._act = act
        self.left = times
        self.gets = 0

    async def get_referral(self, referral_id: str, **kwargs: Any) -> Referral:
        referral = await self._api.get_referral(referral_id, **kwargs)
        self.gets += 1
        if self.left > 0:
            self.left -= 1
            await self._act(referral_id)
        return referral

    async def patch_referral(
        self, referral_id: str, operations: Sequence[Mapping[str, Any]], **kwargs: Any
    ) -> Referral | None:
        return await self._api.patch_referral(referral_id, operations, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)


@pytest.fixture
async def racing(partner: PartnerConnection) -> AsyncIterator[tuple[LocalStack, ChangesUnderUs]]:
    async def accept(referral_id: str) -> None:
        await admin(partner, f"/referrals/{referral_id}/accept", {})

    api = ChangesUnderUs(partner.api, accept, times=0)
    async with local_stack(api, config=FAST) as local:  # type: ignore[arg-type]
        yield local, api


async def test_a_412_reads_again_and_recomputes(
    racing: tuple[LocalStack, ChangesUnderUs],
    partner: PartnerConnection,
    independent: dict[str, Any],
) -> None:
    stack, api = racing
    referral_id = await create(stack, independent)
    api.left = 1  # Microsoft accepts between our first GET and our PATCH

    send_update(stack, {"referralId": referral_id, "details": {"notes": "after the race"}})
    assert await stack.drain()

    assert api.gets == 2
    now = await stored(partner, referral_id)
    assert now["details"]["notes"] == "after the race"
    assert (now["status"], now["substatus"]) == ("Active", "Accepted")  # Microsoft's stays
    (event,) = updated(stack)
    assert (event["result"], event["status"]) == ("applied", "Active")
    assert partner.app is not None
    assert partner.app.sandbox.stats()["requests"]["update"] == {"412": 1, "204": 1}


async def test_412_every_time_is_bounded_then_rescheduled(
    racing: tuple[LocalStack, ChangesUnderUs],
    partner: PartnerConnection,
    independent: dict[str, Any],
) -> None:
    stack, api = racing
    referral_id = await create(stack, independent)
    api.left = 3  # every read of the first invocation is overtaken

    message_id = send_update(stack, {"referralId": referral_id, "salesStage": "Close"})
    assert await stack.drain()

    runs = [i for i in stack.log.invocations if i.function == "update_referral"]
    assert [i.outcome.kind for i in runs if i.outcome] == ["rescheduled", "updated"]
    assert runs[0].outcome is not None
    assert runs[0].outcome.error_code == "precondition_failed"
    assert api.gets == 4
    assert stack.log.update_result_for("u", message_id).outcome == "updated"
    assert (await stored(partner, referral_id))["salesStage"] == "Close"


INCOMING = {
    "name": "Tailspin cloud migration",
    "type": "Independent",
    "status": "New",
    "substatus": "Received",
    "direction": "Incoming",
    "target": [{"type": "SolutionProfile", "id": "SOL-34104-EBB"}],
    "customerProfile": {"name": "Tailspin Toys", "address": {"country": "US"}},
    "consent": {"consentToContact": True},
    "details": {"notes": "From Microsoft"},
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"status": "Active", "substatus": "Accepted"}, ("Active", "Accepted", None)),
        (
            {"status": "closed", "substatus": "declined", "statusReason": "Out of our region"},
            ("Closed", "Declined", "Out of our region"),
        ),
    ],
)
async def test_accept_or_decline_an_incoming_referral(
    stack: LocalStack,
    partner: PartnerConnection,
    change: dict[str, Any],
    expected: tuple[str, str, str | None],
) -> None:
    incoming = await admin(partner, "/referrals", copy.deepcopy(INCOMING))

    message_id = send_update(stack, {"referralId": incoming["id"], **change})
    assert await stack.drain()

    assert stack.log.update_result_for("u", message_id).outcome == "updated"
    now = await stored(partner, incoming["id"])
    assert (now["status"], now["substatus"], now.get("statusReason")) == expected


async def test_deal_registration_is_added_once(
    stack: LocalStack, partner: PartnerConnection, independent: dict[str, Any]
) -> None:
    referral_id = await create(stack, independent)
    registration = {
        "type": "ISV",
        "contract": {"value": "10000", "currency": "usd", "term": "12 months"},
        "solutionDetails": [{"id": "SOL-1", "value": 2500, "isDeployedOnAzure": "true"}],
    }
    update = {"referralId": referral_id, "registrations": [registration]}

    send_update(stack, update)
    assert await stack.drain()
    send_update(stack, copy.deepcopy(update))
    assert await stack.drain()

    (stored_registration,) = (await stored(partner, referral_id))["registrations"]
    assert stored_registration["id"]  # Partner Center's own fields were added to it
    assert stored_registration["contract"]["value"] == 10000
    assert stored_registration["solutionDetails"][0]["isDeployedOnAzure"] is True
    assert [e["result"] for e in updated(stack)] == ["applied", "unchanged"]
    assert updated(stack)[0]["changedPaths"] == ["/registrations/-"]


async def test_an_update_that_overtakes_its_create_waits_for_it(
    stack: LocalStack, partner: PartnerConnection, independent: dict[str, Any]
) -> None:
    message_id = send_update(stack, {"externalReferenceId": KEY, "salesStage": "Develop"})
    stack.publish(body(independent))  # on its way at the same time
    assert await stack.drain()

    result = stack.log.update_result_for("u", message_id)
    assert result.outcome == "updated"
    assert result.referral_id
    assert (await stored(partner, result.referral_id))["salesStage"] == "Develop"


async def test_an_update_for_a_referral_that_never_comes_ends_failed(
    stack: LocalStack, partner: PartnerConnection
) -> None:
    message_id = send_update(stack, {"externalReferenceId": "crm-nowhere", "salesStage": "Qualify"})
    assert await stack.drain()

    assert stack.log.update_result_for("u", message_id).outcome == "failed"
    (failed,) = [e["data"] for e in events(stack, names.REFERRAL_FAILED)]
    assert (failed["stage"], failed["errorCode"]) == ("update", "referral_not_found")
    assert failed["attempts"] == FAST.max_attempts
    assert not updated(stack)
    assert stack.dead_letters() == 1


async def test_an_invalid_update_is_rejected_at_validation(
    stack: LocalStack, partner: PartnerConnection
) -> None:
    message_id = send_update(stack, {"status": "Closed", "substatus": "Accepted", "amount": 5})
    assert await stack.drain()

    assert stack.log.update_result_for("u", message_id).outcome == "rejected"
    (rejection,) = rejected(stack)
    assert rejection["stage"] == "validation"
    codes = {(e["path"], e["code"]) for e in rejection["errors"]}
    assert ("/amount", "unknown_field") in codes
    assert patches(partner) == 0
