"""`referral-relay validate [--json] [--map MAPPING] PATH...`: check messages against the inbound
contract. Exit 0 when every message is valid, 1 when any is invalid, 2 on usage errors or when
there is nothing to validate."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

from relay_cli.inputs import InputMessage, add_input_arguments, load_inputs
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
        return Verdict(message.source, tuple(_located(e, message) for e in violation.errors))
    return Verdict(message.source, ())


def check_update_message(message: InputMessage) -> Verdict:
    """`check` for a message on `referral-updates` (the update contract)."""
    from shared.contracts.update import check_update

    try:
        check_update(decode_body(message.body))
    except ContractViolation as violation:
        return Verdict(message.source, tuple(_located(e, message) for e in violation.errors))
    return Verdict(message.source, ())


def _located(error: FieldError, message: InputMessage) -> FieldError:
    """`not_json` with where the text broke (the reader knows; the contract sees only bytes)."""
    if error.code != "not_json" or message.syntax is None:
        return error
    return error.model_copy(update={"message": f"{error.message}: {message.syntax}"})


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
    messages = load_inputs("validate", args.paths, args.map)
    if messages is None:
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
        help="validate referral messages (JSON, JSON Lines, CSV/Excel with a mapping, stdin)",
        description=__doc__,
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per message")
    add_input_arguments(parser)
    parser.set_defaults(handler=run)
