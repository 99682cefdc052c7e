"""`referral-relay outcomes peek|tail --namespace NS [--complete] [--max N] [--json]`: read the
outcome events on the `outcomes` subscription of `referral-events`, as a CRM's reader would.

`peek` shows up to --max events without taking them (the subscription keeps them). `tail` keeps
reading until Ctrl-C, --max events or --idle seconds without one; with --complete it takes each
event (peek-lock, then complete once printed), as a CRM writer would after storing the ids —
without, it only peeks, from where it left off.

Each line shows the event's ids and statuses: type, time, subject (the idempotency key), the
referral, engagement and connected referral ids, status, error code and error paths. Events carry
no customer contact data, and nothing else of theirs is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Final, TextIO

from relay_cli.argtypes import add_namespace, positive_int
from relay_cli.operator.ports import OUTCOMES, Delivered, OperatorBus
from relay_cli.operator.runner import EXIT_AZURE, on_namespace

DEFAULT_MAX: Final = 50
BATCH: Final = 50
POLL_SECONDS: Final = 2.0  # tail without --complete: how often to look for new events
RECEIVE_WAIT_SECONDS: Final = 5.0
# What of an event's `data` may be shown: ids, statuses and codes (an allow-list on purpose).
DATA_FIELDS: Final = (
    "referralId",
    "engagementId",
    "connectedReferralId",
    "externalReferenceId",
    "referralType",
    "status",
    "substatus",
    "errorCode",
    "referralMayExist",
    "messageId",
)


def summarize(message: Delivered) -> dict[str, Any]:
    """The printable part of one outcome event."""
    try:
        event = json.loads(message.body)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        return {"sequenceNumber": message.sequence_number, "type": "(not a CloudEvent)"}
    data: dict[str, Any] = event["data"] if isinstance(event.get("data"), dict) else {}
    summary: dict[str, Any] = {
        "sequenceNumber": message.sequence_number,
        "type": event.get("type"),
        "id": event.get("id"),
        "time": event.get("time"),
        "subject": event.get("subject"),
    }
    summary.update({k: data[k] for k in DATA_FIELDS if data.get(k) is not None})
    errors = data.get("errors")
    if isinstance(errors, list):
        summary["errors"] = [
            {"path": e.get("path"), "code": e.get("code")} for e in errors if isinstance(e, dict)
        ]
    return summary


def to_text(summary: dict[str, Any]) -> str:
    parts = [str(summary.get("time") or "-"), str(summary.get("type") or "-")]
    parts.append(f"subject={summary.get('subject') or '-'}")
    for key, label in (
        ("referralId", "referral"),
        ("engagementId", "engagement"),
        ("connectedReferralId", "connected"),
        ("status", "status"),
        ("substatus", "substatus"),
        ("errorCode", "error"),
        ("referralMayExist", "mayExist"),
    ):
        if key in summary:
            parts.append(f"{label}={summary[key]}")
    parts.extend(f"{e['path'] or '(root)'}:{e['code']}" for e in summary.get("errors", []))
    return "  ".join(parts)


async def peek_outcomes(
    bus: OperatorBus, *, max_count: int, as_json: bool = False, out: TextIO | None = None
) -> int:
    out = out or sys.stdout
    async with bus.subscription(OUTCOMES) as reader:
        messages = await _peek_all(reader.peek, max_count)
    for message in messages:
        _print(message, as_json, out)
    if not as_json:
        more = " (--max reached; there may be more)" if len(messages) == max_count else ""
        print(f"{len(messages)} event(s) on {OUTCOMES.path}{more}", file=out)
    return 0


async def tail_outcomes(
    bus: OperatorBus,
    *,
    complete: bool,
    max_count: int | None,
    idle_seconds: float | None,
    as_json: bool = False,
    out: TextIO | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """Print events as they come; stop at `max_count` events or after `idle_seconds` idle."""
    out = out or sys.stdout
    shown = 0
    idle = 0.0
    next_sequence = 0
    async with bus.subscription(OUTCOMES) as reader:
        while max_count is None or shown < max_count:
            room = BATCH if max_count is None else min(BATCH, max_count - shown)
            if complete:
                wait = min(RECEIVE_WAIT_SECONDS, idle_seconds or RECEIVE_WAIT_SECONDS)
                batch = await reader.receive(room, wait_seconds=wait)
                waited = wait
            else:
                batch = await reader.peek(room, from_sequence=next_sequence)
                waited = POLL_SECONDS if not batch else 0.0
            for message in batch:
                _print(message, as_json, out)
                if complete:
                    await reader.complete(message)  # printed: the reader has it now
                next_sequence = max(next_sequence, message.sequence_number + 1)
                shown += 1
            if batch:
                idle = 0.0
                continue
            idle += waited
            if idle_seconds is not None and idle >= idle_seconds:
                break
            if not complete:
                await sleep(POLL_SECONDS)
    if not as_json:
        verb = "completed" if complete else "peeked"
        print(f"{shown} event(s) {verb} on {OUTCOMES.path}", file=out)
    return 0


async def _peek_all(
    peek: Callable[..., Awaitable[list[Delivered]]], max_count: int
) -> list[Delivered]:
    messages: list[Delivered] = []
    next_sequence = 0
    while len(messages) < max_count:
        batch = await peek(min(BATCH, max_count - len(messages)), from_sequence=next_sequence)
        if not batch:
            break
        messages.extend(batch)
        next_sequence = batch[-1].sequence_number + 1
    return messages


def _print(message: Delivered, as_json: bool, out: TextIO) -> None:
    summary = summarize(message)
    print(json.dumps(summary) if as_json else to_text(summary), file=out, flush=True)


def run(args: argparse.Namespace, bus: OperatorBus | None = None) -> int:
    async def work(bus: OperatorBus) -> int:
        if args.action == "peek":
            return await peek_outcomes(bus, max_count=args.max or DEFAULT_MAX, as_json=args.json)
        return await tail_outcomes(
            bus,
            complete=args.complete,
            max_count=args.max,
            idle_seconds=args.idle,
            as_json=args.json,
        )

    try:
        if bus is not None:
            return asyncio.run(work(bus))
        return asyncio.run(on_namespace(args.namespace, work, command=f"outcomes {args.action}"))
    except KeyboardInterrupt:
        return 130


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "outcomes",
        help="read outcome events (ids and statuses) from the outcomes subscription in Azure",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(
        dest="action", metavar="ACTION", required=True, help="peek or tail"
    )
    for action, help_text in (
        ("peek", "show events without taking them"),
        ("tail", "follow new events (--complete: take each one once printed)"),
    ):
        child = actions.add_parser(action, help=help_text, description=__doc__)
        child.formatter_class = argparse.RawDescriptionHelpFormatter
        add_namespace(child)
        child.add_argument("--json", action="store_true", help="one JSON object per event")
        child.add_argument(
            "--max",
            type=positive_int,
            help=f"at most N events (peek: default {DEFAULT_MAX}; tail: no limit)",
        )
        if action == "tail":
            child.add_argument(
                "--complete",
                action="store_true",
                help="take events off the subscription (peek-lock, then complete)",
            )
            child.add_argument(
                "--idle",
                type=float,
                metavar="SECONDS",
                help="stop after this long without a new event (default: run until Ctrl-C)",
            )
        else:
            child.set_defaults(complete=False, idle=None)
        child.set_defaults(handler=run)


__all__ = ["EXIT_AZURE", "peek_outcomes", "summarize", "tail_outcomes"]
