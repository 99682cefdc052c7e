"""`send` reads what `validate` reads: a BOM'd JSON array (PowerShell), and CSV through a
bundled mapping, each row sent with its CRM id as MessageId and a body without a BOM."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from relay_cli.commands import send
from relay_cli.main import build_parser
from relay_cli.operator.memory import InMemoryBus
from shared.names import REQUESTS_QUEUE
from tests.conftest import REPO


def run(bus: InMemoryBus, *argv: str) -> int:
    args = build_parser().parse_args(["send", "--namespace", "sb-test", *argv])
    return send.run(args, bus=bus)


def test_a_bom_json_array_is_sent_one_message_per_element(
    tmp_path: Path, request_example: dict[str, Any]
) -> None:
    bodies = [dict(request_example, externalReferenceId=f"crm-{n}") for n in (1, 2)]
    path = tmp_path / "export.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(bodies, indent=2).encode())
    bus = InMemoryBus()

    assert run(bus, str(path)) == 0

    sent = bus.sent[REQUESTS_QUEUE]
    assert [m.message_id for m in sent] == ["crm-1", "crm-2"]
    assert [json.loads(m.body) for m in sent] == bodies
    assert not any(m.body.startswith(b"\xef\xbb\xbf") for m in sent)


def test_csv_rows_are_sent_through_a_mapping() -> None:
    bus = InMemoryBus()
    path = REPO / "samples/csv/dynamics365-opportunity.csv"

    assert run(bus, "--map", "dynamics365-opportunity", str(path)) == 0

    assert [m.message_id for m in bus.sent[REQUESTS_QUEUE]] == [
        "6f1b7c52-3a0e-4d1b-9a55-0c0f5d1e2a01",
        "6f1b7c52-3a0e-4d1b-9a55-0c0f5d1e2a02",
    ]


def test_a_mapping_that_does_not_fit_sends_nothing(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("Unrelated\nx\n")
    bus = InMemoryBus()

    assert run(bus, "--map", "dynamics365-opportunity", str(path)) == 2
    assert bus.sent == {}
