"""`referral-relay send`: validate first; MessageId = idempotency key; a CorrelationId each."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from relay_cli.commands import send
from relay_cli.commands.validate import check, format_report
from relay_cli.inputs import read_inputs
from relay_cli.main import build_parser
from relay_cli.operator.memory import InMemoryBus
from shared.names import PROP_SOURCE, REQUESTS_QUEUE


def run(bus: InMemoryBus, *argv: str) -> int:
    args = build_parser().parse_args(["send", "--namespace", "sb-test", *argv])
    return send.run(args, bus=bus)


def write_jsonl(path: Path, bodies: list[dict[str, Any]]) -> str:
    path.write_text("\n".join(json.dumps(b) for b in bodies) + "\n")
    return str(path)


def test_sends_each_message_keyed_by_external_reference_id(
    tmp_path: Path, request_example: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    bodies = [dict(request_example, externalReferenceId=f"crm-{n}") for n in (1, 2)]
    path = write_jsonl(tmp_path / "batch.jsonl", bodies)
    bus = InMemoryBus()

    assert run(bus, path) == 0

    sent = bus.sent[REQUESTS_QUEUE]
    assert [m.message_id for m in sent] == ["crm-1", "crm-2"]
    assert [json.loads(m.body) for m in sent] == bodies  # the body exactly as given
    correlation_ids = [m.correlation_id for m in sent]
    assert len(set(correlation_ids)) == 2
    assert all(uuid.UUID(str(c)) for c in correlation_ids)
    assert all(m.application_properties == {PROP_SOURCE: "referral-relay-cli"} for m in sent)
    out = capsys.readouterr().out
    assert "MessageId=crm-1" in out
    assert "2 message(s) sent" in out


def test_without_external_reference_id_a_message_id_is_generated_and_flagged(
    tmp_path: Path, request_example: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_jsonl(tmp_path / "batch.jsonl", [request_example, request_example])
    bus = InMemoryBus()

    assert run(bus, path, "--correlation-id", "op-7", "--queue", "other-queue") == 0

    sent = bus.sent["other-queue"]
    ids = [m.message_id for m in sent]
    assert len(set(ids)) == 2
    assert all(len(i) == 32 for i in ids)
    assert [m.correlation_id for m in sent] == ["op-7", "op-7"]
    assert capsys.readouterr().out.count("generated MessageId") == 2


def test_a_key_too_long_for_a_message_id_becomes_a_stable_digest() -> None:
    key = "k" * 200
    assert send.message_id_for(key) == send.message_id_for(key)
    assert send.message_id_for(key).startswith("sha256:")
    assert len(send.message_id_for(key)) <= send.MAX_MESSAGE_ID
    assert send.message_id_for("short") == "short"


def test_one_invalid_message_means_nothing_is_sent_and_the_validate_report(
    tmp_path: Path, request_example: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = dict(request_example, type="Private")
    path = write_jsonl(tmp_path / "batch.jsonl", [request_example, bad])
    bus = InMemoryBus()

    assert run(bus, path) == 1

    assert bus.sent == {}
    err = capsys.readouterr().err
    expected = format_report([check(m) for m in read_inputs([path])])
    assert expected in err
    assert f"{path}:2: INVALID" in err
    assert "nothing sent" in err


def test_a_refused_send_stops_and_says_what_was_sent(
    tmp_path: Path, request_example: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    bodies = [dict(request_example, externalReferenceId=f"crm-{n}") for n in (1, 2, 3)]
    path = write_jsonl(tmp_path / "batch.jsonl", bodies)
    bus = InMemoryBus(refuse={"crm-2"})

    assert run(bus, path) == 3

    assert [m.message_id for m in bus.sent[REQUESTS_QUEUE]] == ["crm-1"]
    err = capsys.readouterr().err
    assert f"{path}:2: NOT SENT (SendRefused" in err
    assert "1 of 3 sent" in err


def test_unreadable_path_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bus = InMemoryBus()
    assert run(bus, str(tmp_path / "missing.json")) == 2
    assert bus.sent == {}
    assert "cannot read" in capsys.readouterr().err


def test_namespace_is_required() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["send", "a.json"])
