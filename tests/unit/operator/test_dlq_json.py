"""`dlq list|replay --json`: one object per dead letter, ids and reasons, never bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from relay_cli.commands import dlq
from relay_cli.main import build_parser
from relay_cli.operator.memory import InMemoryBus
from relay_cli.operator.ports import REQUESTS

PII = "jane.doe@example.com"
BODY = json.dumps({"externalReferenceId": "crm-1", "email": PII}).encode()


def run(bus: InMemoryBus, *argv: str) -> int:
    args = build_parser().parse_args(["dlq", *argv[:1], "--namespace", "sb-test", *argv[1:]])
    return dlq.run(args, bus=bus)


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    bus = InMemoryBus()
    bus.dead_letter(REQUESTS, BODY, message_id="crm-1", correlation_id="corr-1")

    assert run(bus, "list", "--json") == 0

    out = capsys.readouterr().out
    (line,) = [json.loads(x) for x in out.splitlines()]
    assert line == {
        "sequenceNumber": 1,
        "enqueuedTime": "2025-01-01T00:00:00Z",
        "deliveryCount": 10,
        "messageId": "crm-1",
        "correlationId": "corr-1",
        "reason": "MaxDeliveryCountExceeded",
        "description": "Message could not be consumed after 10 delivery attempts.",
    }
    assert PII not in out


def test_replay_json_one_object_per_letter_and_no_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bus = InMemoryBus()
    bus.dead_letter(REQUESTS, BODY, message_id="crm-1")
    bus.dead_letter(REQUESTS, BODY, message_id="", enqueued_time=datetime(2025, 1, 1, tzinfo=UTC))

    assert run(bus, "replay", "--json") == 1

    out = capsys.readouterr().out
    lines = [json.loads(x) for x in out.splitlines()]
    assert [(x["action"], x["messageId"], x["newMessageId"]) for x in lines] == [
        ("replayed", "crm-1", "crm-1"),
        ("skipped", "", None),
    ]
    assert PII not in out


def test_replay_dry_run_json(capsys: pytest.CaptureFixture[str]) -> None:
    bus = InMemoryBus()
    bus.dead_letter(REQUESTS, BODY, message_id="crm-1")

    assert run(bus, "replay", "--dry-run", "--json") == 0

    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["action"] == "would-replay"
    assert bus.dead_letters[REQUESTS.path]  # nothing removed
