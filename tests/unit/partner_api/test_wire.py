"""Reading error bodies and Retry-After headers."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from shared.contracts.errors import FieldError
from shared.partner_api.wire import parse_error_body, parse_retry_after, redact, target_pointer

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
    ],
)
def test_graph_targets_become_json_pointers(target: str, pointer: str) -> None:
    assert target_pointer(target) == pointer
