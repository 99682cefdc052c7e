"""`referral-relay run [--sandbox | --live] [--json] [--log-format text|json] PATH...`

Publishes each input (a file given twice is published twice, as two messages) to the local host's
in-process `referral-requests` queue and runs the real functions of `function_app` until nothing
is left to deliver, against the offline sandbox (default) or the live Partner API. Prints one
line per input (ids, outcome, error codes; never customer data) and a summary. Exit 0 when
every input reached an outcome, rejections included; 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from contextlib import AbstractAsyncContextManager
from typing import Any

from relay_cli.inputs import InputError, InputMessage, read_inputs

EXIT_OK, EXIT_UNFINISHED, EXIT_USAGE = 0, 1, 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "run",
        help="run messages through both functions on a local host (sandbox by default)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--sandbox", dest="live", action="store_false", help="the offline sandbox (default)"
    )
    target.add_argument(
        "--live", dest="live", action="store_true", help="the live Partner API (settings from env)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per input on stdout")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="sandbox: added latency per API call"
    )
    parser.add_argument("--faults", default="", help="sandbox: fault SPEC (docs/sandbox.md)")
    parser.add_argument("--seed", type=int, default=0, help="sandbox: seed for fault injection")
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.set_defaults(handler=run, live=False, token_lifetime=3600)


def run(args: argparse.Namespace) -> int:
    from local_host.log_lines import configure_local_logging

    try:
        messages = read_inputs(args.paths)
    except InputError as exc:
        print(f"referral-relay run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_local_logging(args.log_format)
    try:
        return asyncio.run(_run(args, messages))
    except Exception as exc:  # a configuration problem: say what, not a traceback
        print(f"referral-relay run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_UNFINISHED


def _partner(args: argparse.Namespace) -> AbstractAsyncContextManager[Any]:
    from local_host.partner import live_partner, sandbox_partner

    if args.live:
        from shared.settings import Settings

        return live_partner(Settings.from_env())
    from partner_sandbox.server import config_from_args

    return sandbox_partner(config_from_args(args))


async def _run(args: argparse.Namespace, messages: list[InputMessage]) -> int:
    from local_host.report import REACHED, summary
    from local_host.stack import local_stack

    started = time.perf_counter()
    async with _partner(args) as partner, local_stack(partner.api) as stack:
        sent = [(m.source, stack.publish(m.body)) for m in messages]
        finished = await stack.drain()
        results = [stack.result(source, message_id) for source, message_id in sent]
        stats = await partner.sandbox_stats()
    out = sys.stdout
    if args.json:
        for result in results:
            out.write(json.dumps(result.to_json()) + "\n")
    else:
        width = max((len(r.source) for r in results), default=10)
        for result in results:
            out.write(result.to_text(width) + "\n")
        out.write(_footer(summary(results), stats, time.perf_counter() - started, finished))
    every_input_done = finished and all(r.outcome in REACHED for r in results)
    return EXIT_OK if every_input_done else EXIT_UNFINISHED


def _footer(text: str, stats: dict[str, Any], seconds: float, finished: bool) -> str:
    lines = [text]
    if stats:
        calls = sum(sum(by_status.values()) for by_status in stats.get("requests", {}).values())
        referrals = stats.get("referrals", {}).get("stored", "?")
        lines.append(f"sandbox: {referrals} referral(s) stored, {calls} HTTP request(s) served")
    lines.append(f"took {seconds:.2f}s" + ("" if finished else " (stopped before idle)"))
    return "\n".join(lines) + "\n"
