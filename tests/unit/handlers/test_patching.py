"""The JSON Patch of an update against the referral as it is, and the status table before it."""

from __future__ import annotations

from typing import Any

import pytest

from shared.contracts.errors import ContractViolation
from shared.contracts.update import PATCH_PATHS, check_update, mark_value
from shared.handlers.patching import compute_patch


def current(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "r-1",
        "status": "New",
        "substatus": "Pending",
        "statusReason": None,
        "salesStage": None,
        "campaignId": None,
        "details": {"dealValue": 100, "currency": "USD", "closingDateTime": None, "notes": "a"},
        "consent": {"consentToShareReferralWithMicrosoftSellers": True},
        "team": [{"email": "Sam.Lee@contoso.example"}],
        "customerProfile": {"team": []},
        "registrations": None,
    }
    base.update(fields)
    return base


def patch_of(update: dict[str, Any], **state: Any) -> Any:
    request, _ = check_update({"referralId": "r-1", **update})
    return compute_patch(current(**state), request)


def test_values_equal_as_partner_center_reads_them_make_no_operation() -> None:
    patch = patch_of(
        {
            "details": {"dealValue": "100.0", "currency": "usd", "notes": "a"},
            "consent": {"consentToShareReferralWithMicrosoftSellers": "true"},
            "team": [{"email": "sam.lee@CONTOSO.example"}],
            "status": "New",
        }
    )
    assert patch.operations == ()
    assert patch.problems == ()


def test_changed_scalars_are_replaced_and_absent_members_added() -> None:
    state = current()
    del state["salesStage"]
    request, _ = check_update({"referralId": "r-1", "details": {"dealValue": 5}, "salesStage": "X"})
    patch = compute_patch(state, request)
    assert patch.operations == (
        {"op": "add", "path": "/salesStage", "value": "X"},
        {"op": "replace", "path": "/details/dealValue", "value": 5},
    )


def test_timestamps_compare_as_instants() -> None:
    state = {"details": {"closingDateTime": "2027-06-30T02:00:00.0000000+02:00"}}
    assert patch_of({"details": {"closingDateTime": "2027-06-30"}}, **state).operations == ()
    changed = patch_of({"details": {"closingDateTime": "2027-07-01"}}, **state)
    assert changed.paths == ("/details/closingDateTime",)


def test_members_and_solutions_are_appended_once() -> None:
    patch = patch_of(
        {
            "team": [{"email": "new@contoso.example"}, {"email": "NEW@contoso.example"}],
            "customerProfile": {"team": [{"firstName": "Kim"}]},
            "details": {"requirements": {"solutions": [{"id": "S-1"}, {"id": "s-1"}]}},
        }
    )
    assert [op["path"] for op in patch.operations] == [
        "/details/requirements/solutions/-",
        "/team/-",
        "/customerProfile/team/-",
    ]
    assert all(op["op"] == "add" for op in patch.operations)


def test_a_registration_already_held_is_not_added_again() -> None:
    held = [
        {
            "id": "reg-1",
            "type": "ISV",
            "registrationDateTime": "2027-01-01T00:00:00Z",
            "contract": {"value": 10000.0, "currency": "USD", "term": "12 months"},
            "solutionDetails": [{"id": "SOL-1", "value": 2500, "isDeployedOnAzure": True}],
        }
    ]
    again = {
        "type": "ISV",
        "contract": {"value": "10000", "currency": "usd"},
        "solutionDetails": [{"id": "SOL-1", "isDeployedOnAzure": "true"}],
    }
    assert patch_of({"registrations": [again]}, registrations=held).operations == ()
    other = {**again, "contract": {"value": 20000}}
    assert patch_of({"registrations": [other]}, registrations=held).paths == ("/registrations/-",)


@pytest.mark.parametrize(
    ("state", "update", "code"),
    [
        ({"status": "Closed", "substatus": "Won"}, {"details": {"notes": "z"}}, "referral_closed"),
        ({"status": "Active", "substatus": "Accepted"}, {"status": "New"}, "invalid_transition"),
        ({"status": "Active", "substatus": "Accepted"}, {"status": "Closed"}, "substatus_required"),
        (
            {"status": "Active", "substatus": "Accepted"},
            {"substatus": "Won"},
            "invalid_status_combination",
        ),
    ],
)
def test_the_status_table_refuses_before_any_call(
    state: dict[str, Any], update: dict[str, Any], code: str
) -> None:
    patch = patch_of(update, **state)
    assert [p.code for p in patch.problems] == [code]


def test_a_closed_referral_that_already_holds_the_update_is_not_refused() -> None:
    patch = patch_of({"status": "Closed", "substatus": "Won"}, status="Closed", substatus="Won")
    assert (patch.operations, patch.problems) == ((), ())


@pytest.mark.parametrize(
    ("state", "update", "expected"),
    [
        (("New", "Pending"), {"status": "Active"}, ("Active", "Accepted")),
        (
            ("New", "Received"),
            {"status": "Closed", "substatus": "Declined"},
            ("Closed", "Declined"),
        ),
        (("Active", "Accepted"), {"status": "Closed", "substatus": "Won"}, ("Closed", "Won")),
        (("New", "Pending"), {"substatus": "Received"}, ("New", "Received")),
    ],
)
def test_allowed_transitions(
    state: tuple[str, str], update: dict[str, Any], expected: tuple[str, str]
) -> None:
    patch = patch_of(update, status=state[0], substatus=state[1])
    assert patch.problems == ()
    assert (patch.status, patch.substatus) == expected
    assert patch.paths[0] in ("/status", "/substatus")


def test_every_operation_is_an_allowed_add_or_replace() -> None:
    update = {
        "status": "Closed",
        "substatus": "Lost",
        "statusReason": "budget",
        "salesStage": "Close",
        "campaignId": "C",
        "referralProgram": "P",
        "details": {
            "dealValue": 1,
            "currency": "EUR",
            "closingDateTime": "2030-01-01",
            "notes": "n",
            "requirements": {"solutions": [{"id": "S"}]},
        },
        "consent": {"consentToShareReferralWithMicrosoftSellers": False},
        "team": [{"email": "a@b.example"}],
        "customerProfile": {"team": [{"email": "c@d.example"}]},
        "registrations": [{"type": "ISV"}],
    }
    patch = patch_of(update, status="Active", substatus="Accepted")
    assert patch.problems == ()
    assert len(patch.operations) == 15
    assert {op["op"] for op in patch.operations} <= {"add", "replace"}
    assert set(patch.paths) <= PATCH_PATHS


def test_the_update_message_is_read_like_a_create_body() -> None:
    request, body = check_update(
        {
            "EXTERNALREFERENCEID": "crm-1",
            "Status": "closed",
            "substatus": "WON",
            "details": {"DealValue": "10000", "currency": " usd ", "notes": ""},
            "sourceUpdatedAt": "2027-01-01T10:00:00",
        }
    )
    assert request.reference == "crm-1"
    assert (request.status, request.substatus) == ("Closed", "Won")
    assert body["details"] == {"dealValue": 10000, "currency": "USD"}
    assert mark_value(request.sourceUpdatedAt) == "2027-01-01T10:00:00.000000Z"
    assert mark_value("2027-01-01T12:00:00+02:00") == "2027-01-01T10:00:00.000000Z"


@pytest.mark.parametrize(
    ("update", "pointer", "code"),
    [
        ({"status": "Active"}, "", "missing_reference"),
        (
            {"referralId": "r", "status": "Closed", "substatus": "Accepted"},
            "/substatus",
            "invalid_status_combination",
        ),
        (
            {"referralId": "r", "details": {"closeDate": "2027-01-01"}},
            "/details/closeDate",
            "unknown_field",
        ),
        (
            {"referralId": "r", "consent": {"consentToContact": True}},
            "/consent/consentToContact",
            "unknown_field",
        ),
        (
            {"referralId": "r", "sourceUpdatedAt": "yesterday"},
            "/sourceUpdatedAt",
            "invalid_datetime",
        ),
    ],
)
def test_what_an_update_message_cannot_carry(
    update: dict[str, Any], pointer: str, code: str
) -> None:
    with pytest.raises(ContractViolation) as refused:
        check_update(update)
    assert (pointer, code) in {(e.path, e.code) for e in refused.value.errors}
