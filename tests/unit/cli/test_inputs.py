"""Reading inputs as partners have them: arrays, byte-order marks, directories, JSON Lines that
is really one pretty document, broken JSON with a position, and nothing to do."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from relay_cli.inputs import InputError, json_messages, read_inputs
from relay_cli.main import main


def bodies(paths: list[str], **kwargs: Any) -> list[tuple[str, Any]]:
    return [(m.source, json.loads(m.body)) for m in read_inputs(paths, **kwargs)]


def test_a_json_array_is_one_message_per_element_with_its_line(
    tmp_path: Path, request_example: dict[str, Any]
) -> None:
    second = dict(request_example, name="second deal")
    path = tmp_path / "batch.json"
    path.write_text(json.dumps([request_example, second], indent=2))

    read = bodies([str(path)])

    assert [b["name"] for _, b in read] == [request_example["name"], "second deal"]
    first_line, second_line = (int(s.rsplit(":", 1)[1]) for s, _ in read)
    assert first_line == 2
    assert second_line > first_line


def test_array_elements_keep_their_exact_text() -> None:
    text = '[{"dealValue": 1e400, "a": "x"}, {"b": 1.50}]'
    first, second = json_messages("-", text, lines=False)
    assert first.body == b'{"dealValue": 1e400, "a": "x"}'
    assert second.body == b'{"b": 1.50}'


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")],
)
def test_a_byte_order_mark_is_dropped(
    tmp_path: Path, request_example: dict[str, Any], encoding: str, bom: bytes
) -> None:
    path = tmp_path / "powershell.json"
    path.write_bytes(bom + json.dumps(request_example).encode(encoding))

    (message,) = read_inputs([str(path)])

    assert json.loads(message.body) == request_example
    assert main(["validate", str(path)]) == 0


def test_a_directory_reads_its_message_files_in_name_order(
    tmp_path: Path, request_example: dict[str, Any]
) -> None:
    (tmp_path / "b.jsonl").write_text(json.dumps(request_example) + "\n")
    (tmp_path / "a.json").write_text(json.dumps(request_example))
    (tmp_path / "notes.txt").write_text("not a message")
    (tmp_path / "c.csv").write_text("externalReferenceId,name\ncrm-9,Deal\n", encoding="utf-8")

    sources = [m.source for m in read_inputs([str(tmp_path)])]

    assert sources == [f"{tmp_path}/a.json", f"{tmp_path}/b.jsonl:1", f"{tmp_path}/c.csv:2"]


def test_an_empty_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no \.json"):
        read_inputs([str(tmp_path)])


def test_pretty_printed_json_in_a_jsonl_is_one_document(
    tmp_path: Path, request_example: dict[str, Any]
) -> None:
    path = tmp_path / "pretty.jsonl"
    path.write_text(json.dumps(request_example, indent=2))

    (message,) = read_inputs([str(path)])

    assert message.syntax is None
    assert json.loads(message.body) == request_example


def test_broken_pretty_json_in_a_jsonl_is_one_error_with_line_and_column(
    tmp_path: Path, request_example: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    text = json.dumps(request_example, indent=2).replace('"name": "', '"name" "', 1)
    path = tmp_path / "broken.jsonl"
    path.write_text(text)
    broken_line = next(n for n, line in enumerate(text.splitlines(), 1) if '"name" "' in line)

    assert main(["validate", str(path)]) == 1

    out = capsys.readouterr().out
    assert out.count("INVALID") == 1
    assert f"at line {broken_line} column" in out
    assert request_example["name"] not in out  # positions, never values


def test_a_broken_line_of_json_lines_names_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl"
    path.write_text('{"a": 1}\n{"b": tru}\n')

    good, bad = read_inputs([str(path)])

    assert (good.syntax, bad.source) == (None, f"{path}:2")
    assert bad.syntax is not None
    assert bad.syntax.endswith("at line 2 column 7")


def test_json_lines_in_a_json_file_or_on_stdin_are_read_as_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"a": 1}\n{"b": 2}\n')))
    assert [m.source for m in read_inputs(["-"])] == ["-:1", "-:2"]


def test_text_that_is_not_utf8_is_a_usage_error_with_a_position(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{\n  "name": "Caf\xe9"\n}')
    with pytest.raises(InputError, match="at line 2 column 15"):
        read_inputs([str(path)])


@pytest.mark.parametrize("command", ["validate", "run", "send"])
@pytest.mark.parametrize("content", ["", "\n  \n", "[]"])
def test_nothing_to_do_exits_two_in_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, content: str
) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(content)
    extra = ["--namespace", "sb-unused"] if command == "send" else []

    assert main([command, *extra, str(path)]) == 2
    assert "nothing to do" in capsys.readouterr().err
