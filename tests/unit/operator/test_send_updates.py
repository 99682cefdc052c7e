"""`referral-relay send --queue referral-updates`: update messages, validated as updates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay_cli.commands import send
from relay_cli.main import build_parser
from relay_cli.operator.memory import InMemoryBus
from shared.names import UPDATES_QUEUE

WON = {"externalReferenceId": "crm-1", "status": "Closed", "substatus": "Won"}
NOTES = {"externalReferenceId": "crm-1", "details": {"notes": "signed"}}


def run(bus: InMemoryBus, *argv: str) -> int:
    args = build_parser().parse_args(["send", "--namespace", "sb", "--queue", UPDATES_QUEUE, *argv])
    return send.run(args, bus=bus)


def test_each_update_is_keyed_by_its_body(tmp_path: Path) -> None:
    path = tmp_path / "updates.jsonl"
    path.write_text("\n".join(json.dumps(b) for b in (WON, NOTES, WON)) + "\n")
    bus = InMemoryBus()

    assert run(bus, str(path)) == 0

    ids = [m.message_id for m in bus.sent[UPDATES_QUEUE]]
    assert ids[0] == ids[2] != ids[1]  # a resend is dropped by duplicate detection, not another
    assert all(i.startswith("update-") and len(i) <= 128 for i in ids)


def test_an_update_that_is_not_one_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"status": "Closed", "substatus": "Won"}))  # names no referral
    bus = InMemoryBus()

    assert run(bus, str(path)) == 1

    assert not bus.sent.get(UPDATES_QUEUE)
    assert "missing_reference" in capsys.readouterr().err
