"""`referral-relay` entry point: one argparse parser, one module per subcommand.

Each command module exposes `register(subparsers)`, which adds its parser and sets
`handler=<callable(args) -> int>` as the default. Modules are imported here explicitly so that
`--help` lists every command; heavy imports stay inside the handlers (fast start-up).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from relay_cli import commands

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="referral-relay",
        description="Create Partner Center referrals from Service Bus messages — tools.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in commands.ALL:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
