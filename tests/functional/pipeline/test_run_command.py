"""`referral-relay run` over the bundled samples: one result per input, in input order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


OUTAGE = ["--faults", "503=1,retry-after=0", "--retry-budget", "0.5"]


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_failed_input_exits_one_with_one_error_line_and_its_attempts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(REPO)
    events = tmp_path / "events.jsonl"
    args = ["--log-format", "json", *OUTAGE, "--max-attempts", "3", "--events", str(events)]
    code = main(["run", *args, "samples/independent.json"])

    assert code == 1
    err = capsys.readouterr().err
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    errors = [r for r in records if r.get("level") == "ERROR"]
    assert len(errors) == 1, errors
    assert errors[0]["message"] == "create_referral failed"
    (failed,) = _events(events)
    assert failed["type"] == "referral-failed"
    assert failed["data"]["attempts"] == 3


def test_max_attempts_comes_from_the_environment_unless_the_flag_says_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("RELAY_MAX_ATTEMPTS", "2")
    from_env, from_flag = tmp_path / "env.jsonl", tmp_path / "flag.jsonl"

    assert main(["run", *OUTAGE, "--events", str(from_env), "samples/independent.json"]) == 1
    args = ["run", *OUTAGE, "--max-attempts", "1", "--events", str(from_flag)]
    assert main([*args, "samples/independent.json"]) == 1

    assert _events(from_env)[0]["data"]["attempts"] == 2
    assert _events(from_flag)[0]["data"]["attempts"] == 1


def test_a_bad_retry_setting_in_the_environment_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("RELAY_RETRY_BUDGET_SECONDS", "soon")
    assert main(["run", "samples/independent.json"]) == 2
    assert "RELAY_RETRY_BUDGET_SECONDS" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["--faults", "429=2"],
        ["--faults", "nonsense"],
        ["--max-attempts", "0"],
        ["--retry-budget", "-1"],
        ["--ledger", "x.sqlite3"],
    ],
)
def test_bad_options_exit_two_with_one_readable_line(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    if args[0] in ("--max-attempts", "--retry-budget"):  # argparse's own check: exit 2
        with pytest.raises(SystemExit) as exit_:
            main(["run", *args, "samples/independent.json"])
        assert exit_.value.code == 2
    else:
        assert main(["run", *args, "samples/independent.json"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "Error:" not in err  # no exception class names


def test_events_are_what_the_outcomes_subscription_carries(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import jsonschema

    monkeypatch.chdir(REPO)
    assert main(["run", "--events", "-", *SAMPLES]) == 0
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]

    kinds = [e["type"] for e in events]
    # The duplicate is answered with the same event id: the topic drops the copy.
    assert kinds.count("referral-created") == 3
    assert kinds.count("referral-connected") == 1
    assert kinds.count("referral-rejected") == 7
    for event in events:
        schema = json.loads((REPO / "schemas" / f"{event['type']}.schema.json").read_text())
        jsonschema.validate(event, schema)
    assert "11 input(s)" in captured.err  # the report moved to stderr: stdout is the events
    for sample in ("shared-cosell.json", "independent.json"):
        body = json.loads((REPO / "samples" / sample).read_text())
        assert body["customerProfile"]["name"] not in captured.out


def test_the_duplicate_in_make_run_is_not_a_warning(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    assert main(["run", "--log-format", "json", *SAMPLES]) == 0
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    warnings = [r for r in records if r["level"] == "WARNING"]
    assert warnings, "the five rejections are warnings"
    assert all(r["message"] == "create_referral rejected" for r in warnings), warnings


def test_progress_is_off_without_a_terminal_and_on_when_asked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    assert main(["run", "samples/independent.json"]) == 0
    assert "input/s" not in capsys.readouterr().err

    assert main(["run", "--progress", *SAMPLES]) == 0
    err = capsys.readouterr().err
    assert "11/11" in err


def test_run_reads_csv_through_a_bundled_mapping(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    csv_path = "samples/csv/partner-center-export.csv"
    assert main(["run", "--json", "--map", "partner-center-export", csv_path]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["source"], r["outcome"]) for r in results] == [
        (f"{csv_path}:2", "created"),
        (f"{csv_path}:3", "connected"),
    ]


def test_nothing_to_do_exits_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    assert main(["run", str(empty)]) == 2
    assert "nothing to do" in capsys.readouterr().err
