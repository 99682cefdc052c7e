"""`referral-relay sandbox [--host H] [--port P] [--latency-ms N] [--faults SPEC] [--seed N]`:
serve the offline Partner Center (docs/sandbox.md) until Ctrl-C or SIGTERM.

When it listens it prints one JSON line on stdout, for scripts to read:
`{"url": ..., "authority": ..., "token": ..., "admin": ...}`.
"""

from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    from partner_sandbox.config import config_from_args
    from partner_sandbox.server import run as serve

    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"referral-relay sandbox: {exc}", file=sys.stderr)
        return 2
    return serve(config, args.host, args.port)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from partner_sandbox.config import add_arguments  # light: no app, no uvicorn

    parser = sub.add_parser(
        "sandbox",
        help="serve the offline Partner Center sandbox (Referrals API + token endpoint)",
        description="Serve the offline Partner Center sandbox on loopback. Prints one JSON "
        "line (url, authority, token, admin) when ready; Ctrl-C or SIGTERM stop it.",
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)
