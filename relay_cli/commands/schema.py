"""`referral-relay schema [NAME]`: print a contract's JSON Schema."""

from __future__ import annotations

import argparse
import sys

from devtools.schemas import REQUEST_SCHEMA, SCHEMA_NAMES, render


def run(args: argparse.Namespace) -> int:
    if args.name not in SCHEMA_NAMES:
        names = ", ".join(SCHEMA_NAMES)
        print(f"referral-relay schema: unknown schema; choose one of: {names}", file=sys.stderr)
        return 2
    sys.stdout.write(render(args.name))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "schema",
        help="print the JSON Schema of the inbound message or of an outcome event",
        description=f"NAME is one of: {', '.join(SCHEMA_NAMES)} (default {REQUEST_SCHEMA}).",
    )
    parser.add_argument(
        "name",
        nargs="?",
        default=REQUEST_SCHEMA,
        metavar="NAME",
        help=f"which schema (default {REQUEST_SCHEMA})",
    )
    parser.set_defaults(handler=run)
