"""`referral-relay validate [--json] PATH...`: check messages against the inbound contract."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

from relay_cli.inputs import InputError, InputMessage, read_inputs
from shared.contracts.envelope import decode_body
from shared.contracts.errors import ContractViolation, FieldError
from shared.contracts.validation import validate_referral_request


@dataclass(frozen=True, slots=True)
class Verdict:
    source: str
    errors: tuple[FieldError, ...]

    @property
    def valid(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "valid": self.valid,
            "errors": [e.model_dump() for e in self.errors],
        }


def check(message: InputMessage) -> Verdict:
    try:
        validate_referral_request(decode_body(message.body))
    except ContractViolation as violation:
        return Verdict(message.source, violation.errors)
    return Verdict(message.source, ())


def format_report(verdicts: list[Verdict]) -> str:
    """The readable report (also shown by `send` when it refuses invalid messages)."""
    lines: list[str] = []
    for verdict in verdicts:
        lines.append(f"{verdict.source}: {'valid' if verdict.valid else 'INVALID'}")
        for error in verdict.errors:
            lines.append(f"  {error.path or '(root)'}  [{error.code}]  {error.message}")
    invalid = sum(not v.valid for v in verdicts)
    lines.append(f"{len(verdicts)} message(s), {len(verdicts) - invalid} valid, {invalid} invalid")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        messages = read_inputs(args.paths)
    except InputError as exc:
        print(f"referral-relay validate: {exc}", file=sys.stderr)
        return 2
    verdicts = [check(m) for m in messages]
    if args.json:
        for verdict in verdicts:
            print(json.dumps(verdict.to_json()))
    else:
        print(format_report(verdicts))
    return 0 if all(v.valid for v in verdicts) else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "validate",
        help="validate referral messages (JSON, JSON Lines or - for stdin)",
        description="Exit 0 when every message is valid, 1 when any is invalid, 2 on usage errors.",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per message")
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.set_defaults(handler=run)
