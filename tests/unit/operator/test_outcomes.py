"""`referral-relay outcomes peek|tail` on the in-memory bus: ids and statuses only; peek leaves
events in place, tail --complete takes them, tail without it follows from where it left off."""

from __future__ import annotations

import json
from typing import Any

import pytest

from relay_cli.commands import outcomes
from relay_cli.main import build_parser
from relay_cli.operator.memory import InMemoryBus
from relay_cli.operator.ports import OUTCOMES

SECRET = "do-not-print@example.com"


def event(kind: str, key: str, **data: Any) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"{kind}:{key}",
            "type": kind,
            "source": "/referral-relay/create_referral",
            "time": "2026-01-01T00:00:00Z",
            "subject": key,
            # An unexpected field: only the allow-listed ones are ever printed.
            "data": {"idempotencyKey": key, "contactEmail": SECRET, **data},
        }
    ).encode()


def bus_with_events() -> InMemoryBus:
    bus = InMemoryBus()
    bus.deliver(
        OUTCOMES,
        event("referral-created", "crm-1", referralId="r-1", engagementId="e-1", status="New"),
        message_id="referral-created:r-1",
    )
    bus.deliver(
        OUTCOMES,
        event(
            "referral-rejected",
            "crm-2",
            errorCode="invalid_country",
            errors=[{"path": "/customerProfile/address/country", "code": "invalid_country"}],
        ),
        message_id="referral-rejected:crm-2",
    )
    return bus


def run(bus: InMemoryBus, *argv: str) -> int:
    args = build_parser().parse_args(["outcomes", *argv[:1], "--namespace", "sb-x", *argv[1:]])
    return outcomes.run(args, bus=bus)


def test_peek_prints_ids_and_statuses_and_leaves_events(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bus = bus_with_events()

    assert run(bus, "peek") == 0

    out = capsys.readouterr().out
    created, rejected, total = out.splitlines()
    assert "referral-created" in created
    assert "subject=crm-1" in created
    assert "referral=r-1" in created
    assert "engagement=e-1" in created
    assert "status=New" in created
    assert "/customerProfile/address/country:invalid_country" in rejected
    assert total == "2 event(s) on referral-events/outcomes"
    assert SECRET not in out
    assert len(bus.subscriptions[OUTCOMES.path]) == 2


def test_peek_json_and_max(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(bus_with_events(), "peek", "--json", "--max", "1") == 0

    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line == {
        "sequenceNumber": 1,
        "type": "referral-created",
        "id": "referral-created:crm-1",
        "time": "2026-01-01T00:00:00Z",
        "subject": "crm-1",
        "referralId": "r-1",
        "engagementId": "e-1",
        "status": "New",
    }


def test_tail_complete_takes_each_event(capsys: pytest.CaptureFixture[str]) -> None:
    bus = bus_with_events()

    assert run(bus, "tail", "--complete", "--idle", "1") == 0

    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "2 event(s) completed on referral-events/outcomes"
    assert bus.subscriptions[OUTCOMES.path] == []


async def test_tail_without_complete_follows_new_events_and_takes_nothing() -> None:
    import io

    bus = bus_with_events()
    out = io.StringIO()
    polls: list[float] = []

    async def sleep(seconds: float) -> None:  # a new event arrives while the tail waits
        polls.append(seconds)
        if len(polls) == 1:
            bus.deliver(OUTCOMES, event("referral-failed", "crm-3"), message_id="f-3")

    code = await outcomes.tail_outcomes(
        bus, complete=False, max_count=None, idle_seconds=4, out=out, sleep=sleep
    )

    assert code == 0
    lines = out.getvalue().splitlines()
    assert [line.split("  ")[1] for line in lines[:-1]] == [
        "referral-created",
        "referral-rejected",
        "referral-failed",
    ]
    assert lines[-1] == "3 event(s) peeked on referral-events/outcomes"
    assert len(bus.subscriptions[OUTCOMES.path]) == 3


async def test_tail_stops_at_max() -> None:
    import io

    out = io.StringIO()
    await outcomes.tail_outcomes(
        bus_with_events(), complete=True, max_count=1, idle_seconds=None, out=out
    )
    assert out.getvalue().splitlines()[-1] == "1 event(s) completed on referral-events/outcomes"


def test_a_body_that_is_not_a_cloudevent_is_named_not_printed() -> None:
    bus = InMemoryBus()
    message = bus.deliver(OUTCOMES, SECRET.encode(), message_id="x")
    assert outcomes.summarize(message) == {"sequenceNumber": 1, "type": "(not a CloudEvent)"}
