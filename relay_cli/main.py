"""`referral-relay` entry point: one argparse parser, one module per subcommand.

Each command module exposes `register(subparsers)`, which adds its parser and sets
`handler=<callable(args) -> int>` as the default. Modules are imported here explicitly so that
`--help` lists every command; heavy imports stay inside the handlers (fast start-up).

Exit codes shared by every command: 0 done, 1 the work itself failed (invalid or failed
messages), 2 usage errors (argparse's own code) or nothing to do, 3 an Azure error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import metadata

from relay_cli import commands

EXIT_USAGE = 2
DISTRIBUTION = "referral-relay"


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a checkout without `pip install -e .`
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="referral-relay",
        description="Create Partner Center referrals from Service Bus messages — tools.",
        epilog="Exit codes: 0 done, 1 invalid or failed messages, 2 usage error or nothing to "
        "do, 3 Azure error. `referral-relay COMMAND --help` for each command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, help="one of the commands below"
    )
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
