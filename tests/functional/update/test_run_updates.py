"""`referral-relay run --updates`: update messages run after the creates, in the order given."""

from __future__ import annotations

import json

import pytest

from relay_cli.main import main
from tests.conftest import REPO


def test_run_with_updates_reports_each_in_order(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    code = main(
        [
            "run",
            "--json",
            "--events",
            "-",
            "samples/independent.json",
            "samples/shared-cosell.json",
            "--updates",
            "samples/updates/independent-won.json",
            "samples/updates/independent-notes-stale.json",
            "samples/updates/cosell-won.json",
            "samples/updates/independent-won.json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    results = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
    assert [(r["source"], r["outcome"]) for r in results] == [
        ("samples/independent.json", "created"),
        ("samples/shared-cosell.json", "connected"),
        ("samples/updates/independent-won.json", "updated"),
        ("samples/updates/independent-notes-stale.json", "stale"),
        ("samples/updates/cosell-won.json", "updated"),
        ("samples/updates/independent-won.json", "unchanged"),
    ]
    events = [json.loads(line) for line in captured.out.splitlines()]
    won = [e["data"] for e in events if e["type"] == "referral-updated"]
    assert [(e["result"], e["status"], e["substatus"]) for e in won] == [
        ("applied", "Closed", "Won"),
        ("stale", None, None),  # skipped before reading it: status not known
        ("applied", "Closed", "Won"),
        ("unchanged", "Closed", "Won"),
    ]
    assert "/registrations/-" in won[0]["changedPaths"]
    assert results[4]["referralId"] == results[1]["referralId"]  # ours, not Microsoft's


def test_an_unreadable_updates_path_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    assert main(["run", "samples/independent.json", "--updates", "samples/nope.json"]) == 2
