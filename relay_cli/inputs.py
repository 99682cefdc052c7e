"""Reading messages from the command line, as partners have them.

* `.json`: one message, or a JSON array of messages (one per element);
* `.jsonl`: one message per line; a pretty-printed document in a `.jsonl` is read as one
  document when no line parses on its own;
* `.csv` / `.xlsx`: one message per row, through a column mapping (`relay_cli.mapping`);
* a directory: its `*.json`, `*.jsonl`, `*.csv` and `*.xlsx` files, in name order;
* `-`: stdin, read like a `.json` file that may also hold JSON Lines.

A UTF-8 or UTF-16 byte-order mark (what Windows PowerShell writes) is dropped. A body that is not
JSON is still a message (the function rejects it as `not_json`); `syntax` says where it broke, by
line and column, never quoting the input.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from relay_cli.mapping import Mapping

SUFFIXES: Final = (".json", ".jsonl", ".csv", ".xlsx")
TABULAR: Final = (".csv", ".xlsx")
_BOMS: Final = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


class InputError(Exception):
    """A path that cannot be read: a usage error (exit 2), not an invalid message."""


@dataclass(frozen=True, slots=True)
class InputMessage:
    source: str  # "<path>", "<path>:<line>" or "<path>:<line>[<index>]"
    body: bytes
    syntax: str | None = None  # why the body is not JSON: "<reason> at line L column C"


def read_inputs(paths: Iterable[str], *, mapping: str | None = None) -> list[InputMessage]:
    """Every message in `paths`, in order. `mapping`: the `--map` file or bundled name."""
    reader = _Reader(mapping)
    messages: list[InputMessage] = []
    for path in paths:
        messages.extend(reader.read(path))
    return messages


class _Reader:
    def __init__(self, mapping: str | None) -> None:
        self._mapping_name = mapping
        self._mapping: Mapping | None = None

    def read(self, path: str) -> list[InputMessage]:
        if path == "-":
            return json_messages("-", _decode("-", sys.stdin.buffer.read()), lines=False)
        file = Path(path)
        if file.is_dir():
            files = sorted(
                f
                for f in file.iterdir()
                if f.is_file() and f.suffix.lower() in SUFFIXES and not f.name.startswith(".")
            )
            if not files:
                raise InputError(f"{path}: no {', '.join(SUFFIXES)} files in this directory")
            return [m for f in files for m in self.read(str(f))]
        suffix = file.suffix.lower()
        if suffix == ".xlsx":
            return self._rows(path, _xlsx_rows(path, self._sheet()))
        raw = _read_bytes(path)
        text = _decode(path, raw)
        if suffix == ".csv":
            return self._rows(path, _csv_rows(path, text, self._delimiter()))
        return json_messages(path, text, lines=suffix == ".jsonl")

    def _loaded(self) -> Mapping | None:
        from relay_cli.mapping import MappingError, load_mapping

        if self._mapping is None and self._mapping_name is not None:
            try:
                self._mapping = load_mapping(self._mapping_name)
            except MappingError as exc:
                raise InputError(str(exc)) from None
        return self._mapping

    def _sheet(self) -> str | None:
        mapping = self._loaded()
        return mapping.sheet if mapping else None

    def _delimiter(self) -> str | None:
        mapping = self._loaded()
        return mapping.delimiter if mapping else None

    def _rows(self, path: str, rows: Iterator[tuple[int, list[Any]]]) -> list[InputMessage]:
        from relay_cli.mapping import Mapping, MappingError

        first = next(rows, None)
        if first is None:
            return []
        header = [str(cell).strip() if cell is not None else "" for cell in first[1]]
        try:
            mapping = self._loaded() or Mapping.identity(header)
            mapping.check_header(header, path)
        except MappingError as exc:
            raise InputError(str(exc)) from None
        messages: list[InputMessage] = []
        for line, cells in rows:
            if all(cell is None or str(cell).strip() == "" for cell in cells):
                continue
            body = mapping.body(dict(zip(header, cells, strict=False)))
            messages.append(InputMessage(f"{path}:{line}", _dump(body)))
        return messages


def json_messages(source: str, text: str, *, lines: bool) -> list[InputMessage]:
    """The messages of one JSON or JSON Lines text (see the module docstring)."""
    if not text.strip():
        return []
    whole = _parse(text)
    if lines:
        numbered = [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
        parsed = [(n, line, _parse(line)) for n, line in numbered]
        first_ok = not isinstance(parsed[0][2], json.JSONDecodeError)
        if len(parsed) > 1 and not first_ok and not isinstance(whole, json.JSONDecodeError):
            return _document(source, text, whole)  # pretty-printed JSON in a .jsonl
        if len(parsed) > 1 and all(isinstance(p, json.JSONDecodeError) for _, _, p in parsed):
            return _document(source, text, whole)  # one broken document: one error, not N
        return [m for n, line, p in parsed for m in _document(f"{source}:{n}", line, p, line=n)]
    if isinstance(whole, json.JSONDecodeError) and whole.msg == "Extra data":
        return json_messages(source, text, lines=True)  # JSON Lines in a .json (or on stdin)
    return _document(source, text, whole)


def _document(
    source: str, text: str, parsed: Any, *, line: int | None = None
) -> list[InputMessage]:
    """`line`: the file line `text` is (JSON Lines), for error positions and sources."""
    if isinstance(parsed, json.JSONDecodeError):
        where = f"line {line or parsed.lineno} column {parsed.colno}"
        return [InputMessage(source, text.encode("utf-8"), syntax=f"{parsed.msg} at {where}")]
    if not isinstance(parsed, list):
        return [InputMessage(source, text.encode("utf-8"))]
    # An array of messages: each element keeps its own text, exactly as written.
    return [
        InputMessage(f"{source}[{i}]" if line else f"{source}:{element_line}", raw)
        for i, (element_line, raw) in enumerate(_elements(text))
    ]


def _elements(text: str) -> Iterator[tuple[int, bytes]]:
    """(line, raw text) of each element of a JSON array that is known to parse."""
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    while True:
        position = _skip(text, position, " \t\r\n,")
        if text[position] == "]":
            return
        _, end = decoder.raw_decode(text, position)
        yield text.count("\n", 0, position) + 1, text[position:end].encode("utf-8")
        position = end


def _skip(text: str, position: int, chars: str) -> int:
    while text[position] in chars:
        position += 1
    return position


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        return exc


def _read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise InputError(f"{path}: cannot read ({reason})") from None


def _decode(source: str, raw: bytes) -> str:
    encoding = "utf-8"
    for bom, name in _BOMS:
        if raw.startswith(bom):
            raw, encoding = raw[len(bom) :], name
            break
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(
            f"{source}: not {encoding.upper()} text at line {line} column {column} "
            "(save it as UTF-8)"
        ) from None


def _csv_rows(path: str, text: str, delimiter: str | None) -> Iterator[tuple[int, list[Any]]]:
    first_line = text.split("\n", 1)[0]
    delimiter = delimiter or max(",;\t", key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 1
    try:
        for row in reader:
            yield start, list(row)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(f"{path}: not valid CSV at line {reader.line_num} ({exc})") from None


def _xlsx_rows(path: str, sheet: str | None) -> Iterator[tuple[int, list[Any]]]:
    from zipfile import BadZipFile

    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, BadZipFile, InvalidFileException, KeyError) as exc:
        reason = getattr(exc, "strerror", None) or "not an Excel .xlsx workbook"
        raise InputError(f"{path}: cannot read ({reason})") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise InputError(f"{path}: no worksheet named {sheet!r}")
        worksheet = book[sheet] if sheet else book.worksheets[0]
        for number, row in enumerate(worksheet.iter_rows(values_only=True), 1):
            yield number, list(row)
    finally:
        book.close()


def _dump(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")


def add_input_arguments(parser: Any, *, stdin: bool = True) -> None:
    """The PATH... positional and `--map`, the same on every command that reads messages."""
    kinds = ".json (one message or an array), .jsonl, .csv/.xlsx (with --map), a directory"
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help=kinds + (", or - for stdin" if stdin else "")
    )
    parser.add_argument(
        "--map",
        metavar="MAPPING",
        help="column mapping for .csv/.xlsx: a YAML file or a bundled name "
        "(partner-center-export, dynamics365-opportunity); default: headers are wire paths",
    )


def load_inputs(command: str, paths: list[str], mapping: str | None) -> list[InputMessage] | None:
    """The messages, or None after printing why there are none (the caller exits 2)."""
    try:
        messages = read_inputs(paths, mapping=mapping)
    except InputError as exc:
        print(f"referral-relay {command}: {exc}", file=sys.stderr)
        return None
    if not messages:
        print(f"referral-relay {command}: nothing to do: no messages in the input", file=sys.stderr)
        return None
    return messages
