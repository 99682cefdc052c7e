"""Reading messages from the command line: `.json` files (one message), `.jsonl` files (one per
line) and `-` (stdin: one JSON document, or JSON Lines when it is not one document)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path


class InputError(Exception):
    """A path that cannot be read: a usage error (exit 2), not an invalid message."""


@dataclass(frozen=True, slots=True)
class InputMessage:
    source: str  # "<path>" or "<path>:<line>"
    body: bytes


def read_inputs(paths: list[str]) -> list[InputMessage]:
    messages: list[InputMessage] = []
    for path in paths:
        if path == "-":
            messages.extend(_split("-", sys.stdin.buffer.read(), jsonl=None))
            continue
        file = Path(path)
        try:
            raw = file.read_bytes()
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            raise InputError(f"{path}: cannot read ({reason})") from None
        messages.extend(_split(path, raw, jsonl=file.suffix.lower() == ".jsonl"))
    return messages


def _split(source: str, raw: bytes, *, jsonl: bool | None) -> list[InputMessage]:
    if jsonl is None:  # stdin: one document if it parses as one, else JSON Lines
        try:
            json.loads(raw)
            jsonl = False
        except ValueError:
            jsonl = True
    if not jsonl:
        return [InputMessage(source, raw)]
    return [
        InputMessage(f"{source}:{number}", line)
        for number, line in enumerate(raw.split(b"\n"), start=1)
        if line.strip()
    ]
