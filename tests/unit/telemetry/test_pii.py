"""The PII safety net: patterns, the per-invocation contact registry and its isolation."""

from __future__ import annotations

import asyncio

import pytest

from shared.telemetry.pii import (
    ContactRegistry,
    contact_scope,
    remember_contacts,
    scrub,
    scrub_patterns,
    scrub_value,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from sue.smith@contoso.com today", "from [email] today"),
        ("SUE_SMITH+crm@mail.contoso.co.uk", "[email]"),
        ("call +44 20 7946 0958 now", "call [phone] now"),
        ("(425) 555-0100", "[phone]"),
        ("phone=4035698759", "phone=[phone]"),
        ("+1.425.555.0100.", "[phone]."),
    ],
)
def test_patterns_mask_emails_and_phone_numbers(text: str, expected: str) -> None:
    assert scrub_patterns(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-06-26",
        "2026-06-26T12:00:00Z",
        "12:34:56",
        "referral 3f2a9c1e-1234-5678-9abc-def012345678",
        "12345678-1234-5678-1234-567812345678",
        "trace 4bf92f3577b34da6a3ce929d0e0e4736",
        "msg-0001234567",
        "crm-opp-1001",
        "HTTP 429 after 3 of 5 attempts",
        "a 123456 digit run is too short for a phone",
        "GET /v1.0/engagements/referrals?$top=100",
    ],
)
def test_patterns_leave_ids_dates_and_codes_alone(text: str) -> None:
    assert scrub_patterns(text) == text


def test_a_registry_masks_whole_names_case_insensitively() -> None:
    registry = ContactRegistry()
    for value in ("Sue", "Smith", "Sue Smith", "Jo"):
        registry.add(value)
    assert len(registry) == 3  # "Jo" is too short to mask safely
    assert registry.scrub("Sue Smith called; SMITH again; Issue #7; Sued; Jo") == (
        "[name] called; [name] again; Issue #7; Sued; Jo"
    )


def test_remember_contacts_reads_every_contact_of_a_referral(
    request_example: dict[str, object],
) -> None:
    with contact_scope() as registry:
        remember_contacts(request_example)
        text = "Sue Smith / Joe Hansen / Contoso Customer Inc / joe.hansen@contoso.com"
        assert scrub(text) == "[name] / [name] / [name] / [email]"
    assert len(registry) > 0
    # Outside the scope nothing is remembered any more; the patterns still apply.
    assert scrub("Sue Smith, sue.smith@contoso.com") == "Sue Smith, [email]"


def test_remember_contacts_outside_a_scope_is_a_no_op(request_example: dict[str, object]) -> None:
    remember_contacts(request_example)
    assert scrub("Joe Hansen") == "Joe Hansen"


async def test_concurrent_invocations_never_see_each_others_contacts() -> None:
    seen: dict[str, str] = {}
    both_registered = asyncio.Event()
    registered = 0

    async def invocation(name: str, other: str) -> None:
        nonlocal registered
        with contact_scope():
            remember_contacts({"customerProfile": {"team": [{"firstName": name}]}})
            registered += 1
            if registered == 2:
                both_registered.set()
            await both_registered.wait()
            seen[name] = scrub(f"{name} and {other}")

    await asyncio.gather(invocation("Alice", "Bernard"), invocation("Bernard", "Alice"))
    assert seen == {"Alice": "[name] and Bernard", "Bernard": "[name] and Alice"}


def test_scrub_value_handles_strings_and_sequences_only() -> None:
    assert scrub_value("x@contoso.com") == "[email]"
    assert scrub_value(["a", "x@contoso.com"]) == ["a", "[email]"]
    assert scrub_value(("4255550100",)) == ("[phone]",)
    assert scrub_value(4255550100) == 4255550100
    assert scrub_value(None) is None
