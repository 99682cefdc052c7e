"""`referral-relay validate` and `schema`: exit codes, sources, JSON output."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from relay_cli.main import main


def write(path: Path, value: Any) -> str:
    path.write_text(json.dumps(value))
    return str(path)


def test_valid_file_exits_zero(
    tmp_path: Path, request_example: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", write(tmp_path / "a.json", request_example)]) == 0
    assert "valid" in capsys.readouterr().out


def test_jsonl_reports_line_sources_in_json(
    tmp_path: Path, request_example: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = dict(request_example, type="Private")
    lines = [json.dumps(request_example), "", json.dumps(bad), "not json"]
    path = tmp_path / "batch.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert main(["validate", "--json", str(path)]) == 1
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(o["source"], o["valid"]) for o in out] == [
        (f"{path}:1", True),
        (f"{path}:3", False),
        (f"{path}:4", False),
    ]
    assert out[1]["errors"] == [
        {"path": "/type", "code": "not_allowed_value", "message": out[1]["errors"][0]["message"]}
    ]
    assert out[2]["errors"][0]["code"] == "not_json"


def test_stdin_dash(
    monkeypatch: pytest.MonkeyPatch,
    request_example: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    pretty = json.dumps(request_example, indent=2).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(pretty)))
    assert main(["validate", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["source"] == "-"


def test_readable_report_lists_pointer_code_message(
    tmp_path: Path, request_example: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    request_example["customerProfile"]["address"]["country"] = "USA"
    assert main(["validate", write(tmp_path / "b.json", request_example)]) == 1
    out = capsys.readouterr().out
    assert "/customerProfile/address/country  [invalid_country]" in out
    assert "1 message(s), 0 valid, 1 invalid" in out


def test_usage_errors_exit_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "missing.json")]) == 2
    assert main(["schema", "no-such-schema"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["validate"])
    assert exc.value.code == 2


def test_schema_prints_request_schema_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "ReferralRequest"
    assert main(["schema", "referral-rejected"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "ReferralRejectedEvent"
