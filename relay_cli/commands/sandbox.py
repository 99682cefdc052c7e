"""`referral-relay sandbox [--host H] [--port P] [--latency-ms N] [--faults SPEC] [--seed N]`:
serve the offline Partner Center (docs/sandbox.md) until Ctrl-C or SIGTERM.

When it listens it prints one JSON line on stdout, for scripts to read:
`{"url": ..., "authority": ..., "token": ..., "admin": ...}`.
"""

from __future__ import annotations

import argparse
import socket
import sys


def run(args: argparse.Namespace) -> int:
    from partner_sandbox.config import config_from_args
    from partner_sandbox.server import run as serve

    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"referral-relay sandbox: {exc}", file=sys.stderr)
        return 2
    problem = bind_problem(args.host, args.port)
    if problem:
        print(f"referral-relay sandbox: {problem}", file=sys.stderr)
        return 1
    return serve(config, args.host, args.port)


def bind_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port, in one line (None: it can). Checked with
    the options uvicorn binds with (SO_REUSEADDR), so only a real listener is reported."""
    if port == 0:
        return None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return f"--host {host} is not an address or name of this machine"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            return (
                f"cannot listen on {host}:{port} ({reason}); "
                "pick another --port, or 0 for a free one"
            )
    return None


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
