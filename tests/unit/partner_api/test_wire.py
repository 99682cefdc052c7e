"""Reading error bodies and Retry-After headers."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from shared.contracts.errors import FieldError
from shared.partner_api.wire import (
    AuthChallenge,
    parse_auth_challenge,
    parse_error_body,
    parse_retry_after,
    redact,
    target_pointer,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        (format_datetime(datetime(2025, 3, 1, 12, 0, 30, tzinfo=UTC), usegmt=True), 30.0),
        ("Sat, 01 Mar 2025 11:59:00 GMT", 0.0),  # in the past: go now
        ("Sat, 01 Mar 2025 12:01:00 GMT", 60.0),
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_in_seconds_or_http_date(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_graph_error_with_a_target_becomes_a_field_error_at_that_pointer() -> None:
    body = {
        "error": {
            "code": "invalidRequest",
            "message": "Country must be a two-letter code.",
            "target": "customerProfile.address.country",
            "innerError": {"code": "x", "innerError": {"code": "y"}},
        }
    }

    parsed = parse_error_body(body, 400)

    assert parsed.code == "invalidRequest"
    assert parsed.errors == (
        FieldError(
            path="/customerProfile/address/country",
            code="invalidRequest",
            message="Country must be a two-letter code.",
        ),
    )


def test_graph_error_details_each_become_a_field_error() -> None:
    body = {
        "error": {
            "code": "invalidRequest",
            "message": "2 problems",
            "details": [
                {"code": "required", "message": "missing", "target": "details"},
                {
                    "code": "invalidEmail",
                    "message": "bad",
                    "target": "customerProfile.team[1].email",
                },
            ],
        }
    }

    parsed = parse_error_body(body, 400)

    assert [(e.path, e.code) for e in parsed.errors] == [
        ("/details", "required"),
        ("/customerProfile/team/1/email", "invalidEmail"),
    ]


def test_graph_error_without_target_is_one_root_error_with_the_graph_code() -> None:
    parsed = parse_error_body({"error": {"code": "generalException", "message": "oops"}}, 500)

    assert parsed.errors == (FieldError(path="", code="generalException", message="oops"),)


def test_the_throttling_body_without_graph_shape_gives_the_seconds_to_wait() -> None:
    body = {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}

    parsed = parse_error_body(body, 429)

    assert parsed.retry_after == 57.0
    assert parsed.code is None
    assert parsed.errors[0].code == "http_429"


@pytest.mark.parametrize("body", [None, "<html>Bad gateway</html>", [], {"unexpected": 1}, 42])
def test_any_other_body_still_gives_one_root_error_with_the_status(body: object) -> None:
    parsed = parse_error_body(body, 502)

    assert parsed.errors == (FieldError(path="", code="http_502", message="refused by the API"),)


def test_messages_lose_quoted_values_emails_and_phone_numbers() -> None:
    message = (
        "Email 'sue.smith@contoso.com' is invalid for \"Sue\"; call +1 (403) 569-8759 "
        "or joe.hansen@contoso.com, name `Contoso Customer Inc`"
    )

    text = redact(message)

    for secret in ("sue.smith", "Sue", "403", "569-8759", "joe.hansen", "Contoso"):
        assert secret not in text
    assert text.startswith("Email <value> is invalid")
    assert len(redact("x" * 5000)) == 300


@pytest.mark.parametrize(
    ("target", "pointer"),
    [
        ("customerProfile.team[0].email", "/customerProfile/team/0/email"),
        ("CustomerProfile/Address/Country", "/customerProfile/address/country"),
        ("$.details.dealValue", "/details/dealValue"),
        ("consent", "/consent"),
        ("/customerProfile/team/0/email", "/customerProfile/team/0/email"),  # already a pointer
        ("/details/a~1b", "/details/a~1b"),
        # ModelState keys start with the action's parameter name, which is not in our body.
        ("referral.customerProfile.address.country", "/customerProfile/address/country"),
        ("value.Details.DealValue", "/details/dealValue"),
        ("referral.details.requirements.attributes['x.y']", "/details/requirements/attributes/x/y"),
        ("referral", ""),
        ("$", ""),
        ("salesStage", "/salesStage"),
    ],
)
def test_graph_targets_become_json_pointers(target: str, pointer: str) -> None:
    assert target_pointer(target) == pointer


def test_model_state_lists_every_message_and_caps_the_list() -> None:
    state = {f"referral.name{i}": ["a", "b"] for i in range(80)}
    body = {"message": "invalid", "modelState": state}

    parsed = parse_error_body(body, 400)

    assert len(parsed.errors) == 100
    assert parsed.errors[0] == FieldError(path="/name0", code="http_400", message="a")
    assert parsed.errors[1].message == "b"


def test_a_code_and_description_body_keeps_its_code() -> None:
    parsed = parse_error_body({"code": "InvalidInput", "description": "bad", "data": []}, 400)

    assert parsed.code == "InvalidInput"
    assert parsed.errors == (FieldError(path="", code="InvalidInput", message="bad"),)


@pytest.mark.parametrize(
    ("header", "body", "expected"),
    [
        (
            'Bearer realm="", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsiYWNy'
            'cyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19"',
            None,
            AuthChallenge("insufficient_claims", ("c1",)),
        ),
        ("Bearer error=invalid_token", None, AuthChallenge("invalid_token")),
        (None, {"error": "insufficent_claims"}, AuthChallenge("insufficient_claims")),
        (
            None,
            {"error": {"code": "insufficientClaims", "claims": "not base64 json"}},
            AuthChallenge("insufficient_claims"),
        ),
        (  # an acrs value that is not a short id (it could be anything) is not kept
            None,
            {"claims": '{"access_token":{"acrs":{"values":["c1","sue@contoso.com"]}}}'},
            AuthChallenge(None, ("c1",)),
        ),
        ('Bearer realm="x"', {"message": "no"}, None),
        (None, None, None),
    ],
)
def test_auth_challenges_are_read_from_the_header_or_the_body(
    header: str | None, body: object, expected: AuthChallenge | None
) -> None:
    assert parse_auth_challenge(header, body) == expected
