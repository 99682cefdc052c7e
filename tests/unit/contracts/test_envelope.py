"""Inbound envelope: real azure.functions.ServiceBusMessage in, typed command or one error out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.functions.servicebus import ServiceBusMessage

from shared.contracts.envelope import (
    MAX_BODY_BYTES,
    InvalidMessage,
    parse_message,
)


def sb_message(
    body: bytes | dict[str, Any],
    *,
    message_id: str = "msg-1",
    correlation_id: str | None = None,
    props: dict[str, Any] | None = None,
    delivery_count: int = 1,
) -> ServiceBusMessage:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    return ServiceBusMessage(
        body=raw,
        message_id=message_id,
        correlation_id=correlation_id,
        application_properties=props or {},
        user_properties={},
        delivery_count=delivery_count,
    )


def test_key_is_external_reference_id_when_present(request_example: dict[str, Any]) -> None:
    request_example["externalReferenceId"] = "crm-0042"
    command = parse_message(
        sb_message(request_example, correlation_id="corr-9", props={"source": "dynamics"})
    )
    assert command.idempotency_key == "crm-0042"
    assert command.meta.correlation_id == "corr-9"
    assert command.meta.source == "dynamics"
    assert command.body == request_example
    assert command.referral.type == "Shared"


def test_key_and_correlation_fall_back_to_message_id(request_example: dict[str, Any]) -> None:
    command = parse_message(sb_message(request_example, message_id="m-77"))
    assert command.idempotency_key == "m-77"
    assert command.meta.correlation_id == "m-77"
    assert command.meta.source is None
    assert command.meta.attempt == 0
    assert command.meta.original_message_id == "m-77"


def test_reschedule_properties_are_read(request_example: dict[str, Any]) -> None:
    command = parse_message(
        sb_message(
            request_example,
            message_id="m-2",
            props={"relayAttempt": 3, "relayOriginalMessageId": "m-1"},
            delivery_count=2,
        )
    )
    assert (command.meta.attempt, command.meta.original_message_id) == (3, "m-1")
    assert command.meta.delivery_count == 2
    # A rescheduled copy keeps the key of the message it copies, not its own MessageId.
    assert command.idempotency_key == "m-1"


BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("not utf-8", b"\xff\xfe{}", "not_utf8"),
    ("not json", b"{'type': 'Shared'}", "not_json"),
    ("truncated json", b'{"type": "Shared"', "not_json"),
    ("NaN", b'{"details": {"dealValue": NaN}}', "not_json"),
    ("empty", b"", "not_json"),
    ("array", b"[]", "not_an_object"),
    ("string", b'"hello"', "not_an_object"),
    ("too large", b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}', "too_large"),
    (
        "too deep",
        b'{"details": {"requirements": {"iot": ' + b'{"a": ' * 40 + b"1" + b"}" * 43,
        "too_deep",
    ),
    ("huge and deep", b"[" * 150_000 + b"]" * 150_000, "too_large"),
    ("recursion", b"[" * 50_000 + b"]" * 50_000, "not_json"),
]


@pytest.mark.parametrize(
    ("raw", "code"), [c[1:] for c in BAD_BODIES], ids=[c[0] for c in BAD_BODIES]
)
def test_bad_bodies_yield_one_typed_error(raw: bytes, code: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse_message(sb_message(raw, message_id="m-bad"))
    assert [e.code for e in caught.value.errors] == [code]
    assert caught.value.errors[0].path == ""
    assert caught.value.idempotency_key == "m-bad"


def test_invalid_message_keeps_external_id_as_key(request_example: dict[str, Any]) -> None:
    request_example["externalReferenceId"] = "crm-1"
    del request_example["details"]
    with pytest.raises(InvalidMessage) as caught:
        parse_message(sb_message(request_example))
    assert caught.value.idempotency_key == "crm-1"
    assert [(e.path, e.code) for e in caught.value.errors] == [("/details", "missing")]


def test_depth_limit_is_exactly_32(request_example: dict[str, Any]) -> None:
    def nest(levels: int) -> dict[str, Any]:
        node: dict[str, Any] = {}
        for _ in range(levels):
            node = {"n": node}
        return node

    # root(1) > details(2) > requirements(3) > additionalRequirements(4) > iot(5) > nested...
    request_example["details"]["requirements"]["additionalRequirements"] = {"iot": nest(27)}
    assert parse_message(sb_message(request_example)).referral.details.requirements
    request_example["details"]["requirements"]["additionalRequirements"] = {"iot": nest(28)}
    with pytest.raises(InvalidMessage) as caught:
        parse_message(sb_message(request_example))
    assert caught.value.errors[0].code == "too_deep"
