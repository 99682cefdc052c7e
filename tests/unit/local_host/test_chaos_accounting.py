"""The chaos run's accounting can tell a duplicate, a lost input and a contradiction apart."""

from __future__ import annotations

from typing import Any

from local_host.chaos import Input, account
from shared import names


def _event(kind: str, **data: Any) -> dict[str, Any]:
    return {"type": kind, "data": data}


def _stats(ours: dict[str, int], microsoft: dict[str, int] | None = None) -> dict[str, Any]:
    return {"referrals": {"byExternalReferenceId": ours, "microsoftByEngagement": microsoft or {}}}


def _shared(index: int, key: str) -> Input:
    return Input(index, "Shared", b"{}", key, message_ids=[f"m{index}"])


def test_a_connected_shared_input_is_counted_once() -> None:
    events = [
        _event(names.REFERRAL_CREATED, idempotencyKey="k", referralId="r", engagementId="e"),
        _event(names.REFERRAL_CONNECTED, idempotencyKey="k", engagementId="e"),
    ]
    result = account([_shared(0, "k")], events, _stats({"k": 1}, {"e": 1}))
    assert (result["connected"], result["lost"], result["unaccounted"]) == (1, 0, 0)
    assert result["duplicates_in_api"] == 0


def test_duplicates_in_the_api_are_counted_per_key_and_per_engagement() -> None:
    result = account([], [], _stats({"k": 3, "j": 1}, {"e": 2}))
    assert result["duplicates_in_api"] == 3


def test_an_input_without_a_final_event_is_lost() -> None:
    created = _event(names.REFERRAL_CREATED, idempotencyKey="k", referralId="r", engagementId="e")
    assert account([_shared(0, "k")], [], _stats({}))["lost"] == 1
    # Created but never connected (nor failed) is lost too.
    assert account([_shared(0, "k")], [created], _stats({"k": 1}))["lost"] == 1


def test_events_that_contradict_the_sandbox_are_unaccounted() -> None:
    created = _event(names.REFERRAL_CREATED, idempotencyKey="k", referralId="r", engagementId="e")
    connected = _event(names.REFERRAL_CONNECTED, idempotencyKey="k", engagementId="e")
    independent = Input(0, "Independent", b"{}", "k", message_ids=["m0"])
    # Created, but the sandbox holds no referral for the key.
    assert account([independent], [created], _stats({}))["unaccounted"] == 1
    # Connected, but no Microsoft referral on the engagement.
    assert account([_shared(0, "k")], [created, connected], _stats({"k": 1}))["unaccounted"] == 1
    # A referral nobody published.
    assert account([], [], _stats({"stray": 1}))["unaccounted"] == 1


def test_an_invalid_input_must_be_rejected_with_errors_only() -> None:
    invalid = Input(0, "invalid", b"x", "k", message_ids=["m0", "m1"])
    rejected = _event(names.REFERRAL_REJECTED, idempotencyKey="k", messageId="m0", errors=[{}])
    resend = _event(names.REFERRAL_REJECTED, idempotencyKey="k", messageId="m1", errors=[{}])
    assert account([invalid], [rejected, resend], _stats({}))["rejected"] == 1
    created = _event(names.REFERRAL_CREATED, idempotencyKey="k", messageId="m0", referralId="r")
    assert account([invalid], [created], _stats({"k": 1}))["unaccounted"] == 1
    no_errors = _event(names.REFERRAL_REJECTED, idempotencyKey="k", messageId="m0", errors=[])
    assert account([invalid], [no_errors], _stats({}))["unaccounted"] == 1


def test_a_failure_is_flagged_when_partner_center_holds_the_referral_anyway() -> None:
    independent = Input(0, "Independent", b"{}", "k", message_ids=["m0"])
    warned = {"referralMayExist": True}
    failed = _event(names.REFERRAL_FAILED, idempotencyKey="k", stage="create", **warned)
    result = account([independent], [failed], _stats({"k": 1}))
    assert (result["failed"], result["failed_with_referral"]) == (1, 1)
    # A Shared input that failed connecting: our referral exists by design, Microsoft's not.
    created = _event(names.REFERRAL_CREATED, idempotencyKey="k", referralId="r", engagementId="e")
    connect_failed = _event(names.REFERRAL_FAILED, idempotencyKey="k", stage="connect", **warned)
    result = account([_shared(0, "k")], [created, connect_failed], _stats({"k": 1}))
    assert (result["failed"], result["failed_with_referral"]) == (1, 0)
    result = account([_shared(0, "k")], [created, connect_failed], _stats({"k": 1}, {"e": 1}))
    assert (result["failed"], result["failed_with_referral"]) == (1, 1)


def test_a_failure_that_hides_an_existing_referral_is_unaccounted() -> None:
    independent = Input(0, "Independent", b"{}", "k", message_ids=["m0"])
    unwarned = _event(names.REFERRAL_FAILED, idempotencyKey="k", stage="create")
    result = account([independent], [unwarned], _stats({"k": 1}))
    assert (result["failed"], result["unaccounted"]) == (0, 1)
    # Nothing in Partner Center: a failure needs no warning.
    assert account([independent], [unwarned], _stats({}))["failed"] == 1
