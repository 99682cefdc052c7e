"""`referral-relay run` over the bundled samples: one result per input, in input order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay_cli.main import main
from tests.conftest import REPO

SAMPLES = [
    "samples/shared-cosell.json",
    "samples/independent.json",
    "samples/private-deal.json",
    "samples/invalid.jsonl",
    "samples/independent.json",
]


def test_run_json_reports_every_sample_in_order(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    assert main(["run", "--json", *SAMPLES]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["source"], r["outcome"]) for r in results] == [
        ("samples/shared-cosell.json", "connected"),
        ("samples/independent.json", "created"),
        ("samples/private-deal.json", "created"),
        ("samples/invalid.jsonl:1", "rejected"),
        ("samples/invalid.jsonl:2", "rejected"),
        ("samples/invalid.jsonl:3", "rejected"),
        ("samples/invalid.jsonl:4", "rejected"),
        ("samples/invalid.jsonl:5", "rejected"),
        ("samples/invalid.jsonl:6", "rejected"),  # emailAddress: not Microsoft's name
        ("samples/invalid.jsonl:7", "rejected"),  # closeDate: not Microsoft's name
        ("samples/independent.json", "duplicate"),
    ]
    shared, independent, duplicate = results[0], results[1], results[-1]
    assert shared["connectedReferralId"]
    assert shared["engagementId"]
    assert duplicate["referralId"] == independent["referralId"]
    assert results[3]["errors"][0]["path"] == "/customerProfile/address/country"
    assert set(results[0]) == {
        "source",
        "outcome",
        "referralId",
        "engagementId",
        "connectedReferralId",
        "errors",
    }


def test_run_text_report_carries_no_customer_data(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    assert main(["run", *SAMPLES]) == 0
    captured = capsys.readouterr()
    assert "11 input(s): 2 created, 1 connected, 1 duplicate, 7 rejected" in captured.out
    contacts = []
    for sample in ("shared-cosell.json", "independent.json", "private-deal.json"):
        body = json.loads((REPO / "samples" / sample).read_text())
        for person in body["customerProfile"].get("team", []) + body.get("team", []):
            contacts += [
                v
                for k, v in person.items()
                if k in ("firstName", "lastName", "email", "phoneNumber")
            ]
        contacts.append(body["customerProfile"]["name"])
    everything = captured.out + captured.err
    leaked = [c for c in contacts if c in everything]
    assert leaked == []


def test_run_usage_errors_exit_two(tmp_path: Path) -> None:
    assert main(["run", str(tmp_path / "missing.json")]) == 2
