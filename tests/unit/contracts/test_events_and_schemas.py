"""Outcome events: CloudEvents 1.0 structured JSON matching the committed schemas; no drift."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from devtools.schemas import REQUEST_SCHEMA, SCHEMA_NAMES, UPDATE_SCHEMA, json_schema, render
from shared.contracts.errors import FieldError
from shared.contracts.events import (
    CloudEvent,
    ReferralConnectedData,
    ReferralConnectedEvent,
    ReferralCreatedData,
    ReferralCreatedEvent,
    ReferralFailedData,
    ReferralFailedEvent,
    ReferralRejectedData,
    ReferralRejectedEvent,
    event_id,
    now,
    to_outbound,
)
from tests.conftest import REPO

SCHEMAS = REPO / "schemas"


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_committed_schema_matches_the_model(name: str) -> None:
    committed = SCHEMAS / f"{name}.schema.json"
    assert committed.exists(), f"run: referral-relay schema {name} > {committed}"
    assert committed.read_text() == render(name), (
        f"schemas/{name}.schema.json drifted from the model; regenerate it with "
        f"`referral-relay schema {name} > schemas/{name}.schema.json`"
    )


def test_no_stray_schema_files() -> None:
    assert {p.name for p in SCHEMAS.glob("*.json")} == {f"{n}.schema.json" for n in SCHEMA_NAMES}


def test_request_example_satisfies_the_published_schema(request_example: dict[str, Any]) -> None:
    jsonschema.validate(request_example, json_schema(REQUEST_SCHEMA))
    request_example["consent"]["consentToShareInfoWithOthers"] = True
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(request_example, json_schema(REQUEST_SCHEMA))


def _events() -> list[tuple[CloudEvent[Any], str | None]]:
    t = now()
    src = "/referral-relay/create_referral"
    return [
        (
            ReferralCreatedEvent(
                id=event_id("referral-created", "r-1"),
                source=src,
                time=t,
                subject="crm-1",
                data=ReferralCreatedData(
                    idempotencyKey="crm-1",
                    externalReferenceId="crm-1",
                    referralId="r-1",
                    engagementId="e-1",
                    referralType="Shared",
                    status="Active",
                    substatus="Accepted",
                    messageId="m-1",
                ),
            ),
            "Shared",
        ),
        (
            ReferralConnectedEvent(
                id=event_id("referral-connected", "r-2"),
                source="/referral-relay/connect_referral",
                time=t,
                subject="e-1",
                data=ReferralConnectedData(
                    idempotencyKey="e-1",
                    referralId="r-1",
                    connectedReferralId="r-2",
                    engagementId="e-1",
                    adopted=False,
                ),
            ),
            "Shared",
        ),
        (
            ReferralRejectedEvent(
                id=event_id("referral-rejected", "k/m"),
                source=src,
                time=t,
                subject="k",
                data=ReferralRejectedData(
                    idempotencyKey="k",
                    messageId="m",
                    stage="validation",
                    errors=[FieldError(path="/type", code="missing", message="is required")],
                ),
            ),
            None,
        ),
        (
            ReferralFailedEvent(
                id=event_id("referral-failed", "k/m"),
                source=src,
                time=t,
                subject="k",
                data=ReferralFailedData(
                    idempotencyKey="k",
                    messageId="m",
                    stage="create",
                    attempts=5,
                    errorCode="unavailable",
                    httpStatus=503,
                ),
            ),
            None,
        ),
    ]


@pytest.mark.parametrize(("event", "referral_type"), _events(), ids=lambda v: getattr(v, "type", v))
def test_outbound_event_is_structured_cloudevent(
    event: CloudEvent[Any], referral_type: str | None
) -> None:
    out = to_outbound(
        event, correlation_id="corr-1", referral_type=referral_type, traceparent="00-" + "a" * 32
    )
    body = json.loads(out.body)
    jsonschema.validate(body, json_schema(event.type))
    assert body["specversion"] == "1.0"
    assert body["datacontenttype"] == "application/json"
    assert body["time"].endswith("Z")
    assert out.event_id == body["id"] == event.id
    assert out.type == event.type
    assert out.subject == body["subject"]
    assert out.correlation_id == "corr-1"
    assert out.application_properties["traceparent"].startswith("00-")
    assert out.application_properties["Diagnostic-Id"] == out.application_properties["traceparent"]
    if referral_type:
        assert out.application_properties["referralType"] == referral_type
    else:
        assert "referralType" not in out.application_properties


def test_event_ids_are_deterministic() -> None:
    first, second = _events()[0][0], _events()[0][0]
    assert first.id == second.id == "referral-created:r-1"


def test_events_have_no_contact_fields() -> None:
    banned = {"firstName", "lastName", "email", "phoneNumber", "customerProfile", "name", "team"}
    for name in SCHEMA_NAMES:
        if name in (REQUEST_SCHEMA, UPDATE_SCHEMA):  # inbound messages: they carry contacts
            continue
        text = json.dumps(json_schema(name))
        for field in banned:
            assert f'"{field}"' not in text, (name, field)
