"""Property tests: no input escapes as anything but the typed error; valid referrals round-trip."""

from __future__ import annotations

import json
from typing import Any

from azure.functions.servicebus import ServiceBusMessage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.contracts.envelope import InvalidMessage, parse_message
from shared.contracts.validation import validate_referral_request

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)


def _message(body: bytes) -> ServiceBusMessage:
    return ServiceBusMessage(
        body=body, message_id="m", application_properties={}, user_properties={}
    )


def _outcome(raw: bytes) -> InvalidMessage | None:
    """None when valid, the typed error when not; any other exception fails the test."""
    try:
        parse_message(_message(raw))
    except InvalidMessage as exc:
        return exc
    return None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_raise_anything_else(raw: bytes) -> None:
    error = _outcome(raw)
    assert error is None or error.errors


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_never_raises_anything_else(value: Any) -> None:
    error = _outcome(json.dumps(value).encode())
    assert error is None or all(e.path == "" or e.path.startswith("/") for e in error.errors)


WORDS = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20)
countries = st.sampled_from(["US", "GB", "DE", "FR", "JP", "IN", "BR", "AU", "CA", "NL"])
currencies = st.sampled_from(["USD", "EUR", "GBP", "JPY", "INR"])
emails = st.builds(
    "{}.{}@example.com".format,
    st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    st.from_regex(r"[a-z]{1,8}", fullmatch=True),
)
contacts = st.fixed_dictionaries(
    {"firstName": WORDS},
    optional={
        "lastName": WORDS,
        "email": emails,
        "phoneNumber": st.from_regex(r"\+?[0-9]{6,12}", fullmatch=True),
    },
)


@st.composite
def valid_referrals(draw: st.DrawFn) -> dict[str, Any]:
    referral_type = draw(st.sampled_from(["Independent", "Shared"]))
    shared = referral_type == "Shared"
    body: dict[str, Any] = {
        "type": referral_type,
        "customerProfile": {
            "name": draw(WORDS),
            "address": {"country": draw(countries), "city": draw(WORDS)},
            "team": draw(st.lists(contacts, min_size=1 if shared else 0, max_size=3)),
        },
        "consent": {
            "consentToToShareInfoWithOthers": draw(st.booleans()),
            "consentToContact": draw(st.booleans()),
        },
        "details": {
            "dealValue": draw(st.integers(0, 10**9) | st.floats(0, 1e9, allow_nan=False)),
            "currency": draw(currencies),
            "requirements": {
                "solutions": draw(
                    st.lists(
                        st.fixed_dictionaries({"id": WORDS}),
                        min_size=1 if shared else 0,
                        max_size=2,
                    )
                )
            },
        },
    }
    if draw(st.booleans()):
        body["externalReferenceId"] = draw(st.from_regex(r"[A-Za-z0-9'\-]{1,40}", fullmatch=True))
    if draw(st.booleans()):
        body["status"], body["substatus"] = draw(
            st.sampled_from([("New", "Pending"), ("New", "Received"), ("Active", "Accepted")])
        )
    return body


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_referrals())
def test_generated_valid_referrals_round_trip(body: dict[str, Any]) -> None:
    request = validate_referral_request(body)
    assert request.model_dump(mode="json", exclude_unset=True) == body
    wire = json.dumps(body).encode()
    command = parse_message(_message(wire))
    assert command.body == body
    assert command.idempotency_key == body.get("externalReferenceId", "m")
