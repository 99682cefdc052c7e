"""`referral-relay run [--sandbox | --live] [options] PATH... [--updates PATH...]`

Publishes each input (a file given twice is published twice, as two messages) to the local host's
in-process `referral-requests` queue and runs the real functions of `function_app` until nothing
is left to deliver, against the offline sandbox (default) or the live Partner API. Then the
update messages of `--updates` (if any) go onto `referral-updates` one at a time, in the order
given, and run through update_referral: they name the referrals just created by their
externalReferenceId.
Prints one line per input (ids, outcome, error codes; never customer data) and a summary.

--live posts to the Partner Center tenant the RELAY_* settings name. It keeps a durable ledger
(--ledger; default a SQLite file in the user's data directory), so running a file twice creates
nothing twice; while that ledger is new, each referral is looked up by its key before the first
POST. It asks before posting (--yes skips the question; without a terminal it needs --yes).

Exit 0 when every input reached an outcome other than failed (rejections included), 1 when any
ended failed or unfinished, 2 on usage errors or nothing to do.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import time
from collections import Counter
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from typing import IO, Any, Final, cast

from relay_cli.argtypes import positive_int
from relay_cli.inputs import InputMessage, add_input_arguments, load_inputs

EXIT_OK, EXIT_UNFINISHED, EXIT_USAGE = 0, 1, 2
ENV_RETRY_BUDGET: Final = "RELAY_RETRY_BUDGET_SECONDS"
ENV_MAX_ATTEMPTS: Final = "RELAY_MAX_ATTEMPTS"
MAX_RETRY_BUDGET: Final = 600  # seconds, as the app settings allow


class UsageError(Exception):
    """A bad option or setting: exit 2 with one line."""


@dataclass(frozen=True, slots=True)
class Limits:
    retry_budget_seconds: float
    max_attempts: int


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
        "--live",
        dest="live",
        action="store_true",
        help="the live Partner API (RELAY_* settings from the environment)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per input on stdout")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--events",
        metavar="FILE",
        help="write the outcome events a CRM would receive (CloudEvents, one JSON per line); "
        "- for stdout",
    )
    parser.add_argument(
        "--retry-budget",
        type=_positive_float,
        metavar="SECONDS",
        help=f"time one invocation may spend retrying the API (default ${ENV_RETRY_BUDGET} or 45)",
    )
    parser.add_argument(
        "--max-attempts",
        type=positive_int,
        metavar="N",
        help=f"attempts per message before it ends failed (default ${ENV_MAX_ATTEMPTS} or 5)",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress line on stderr (default: when stderr is a terminal and without --json)",
    )
    parser.add_argument(
        "--ledger",
        metavar="PATH|URL",
        help="--live: SQLite file, Table Storage URL or Azurite connection string "
        "(default: ledger.sqlite3 in the user's data directory)",
    )
    parser.add_argument(
        "--yes", action="store_true", help="--live: post without asking for confirmation"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="sandbox: added latency per API call"
    )
    parser.add_argument("--faults", default="", help="sandbox: fault SPEC (docs/sandbox.md)")
    parser.add_argument("--seed", type=int, default=0, help="sandbox: seed for fault injection")
    parser.add_argument(
        "--updates",
        nargs="+",
        action="extend",
        default=[],
        metavar="PATH",
        help="update messages (.json/.jsonl/a directory) for referral-updates, run after the "
        "creates have finished (e.g. samples/updates/)",
    )
    add_input_arguments(parser)
    parser.set_defaults(handler=run, live=False, token_lifetime=3600)


def run(args: argparse.Namespace) -> int:
    messages = load_inputs("run", args.paths, args.map)
    if messages is None:
        return EXIT_USAGE
    updates = load_inputs("run", args.updates, None) if args.updates else []
    if updates is None:
        return EXIT_USAGE
    try:
        limits = resolve_limits(args, os.environ)
        partner = _partner(args)
        if args.ledger and not args.live:
            raise UsageError("--ledger goes with --live (the sandbox starts empty every run)")
    except UsageError as exc:
        print(f"referral-relay run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.live and not _confirmed(args, len(messages) + len(updates)):
        return EXIT_USAGE
    from local_host.log_lines import configure_local_logging
    from relay_cli.log_levels import quiet_repeats

    progress = _progress_wanted(args)
    stream = cast(IO[str], _ProgressStream()) if progress else None
    handler = configure_local_logging(args.log_format, stream=stream)
    quiet_repeats(handler)
    try:
        return asyncio.run(_run(args, messages, updates, limits, partner, progress=progress))
    except Exception as exc:  # a configuration problem: say what, not a traceback
        print(f"referral-relay run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_UNFINISHED


def resolve_limits(args: argparse.Namespace, env: os._Environ[str] | dict[str, str]) -> Limits:
    """Flags win over the app settings' variables, which win over the handlers' defaults."""
    from shared.handlers.common import HandlerConfig

    defaults = HandlerConfig()
    budget = args.retry_budget
    if budget is None:
        budget = _from_env(env, ENV_RETRY_BUDGET, float, defaults.retry_budget_seconds)
    attempts = args.max_attempts
    if attempts is None:
        attempts = _from_env(env, ENV_MAX_ATTEMPTS, int, defaults.max_attempts)
    return Limits(retry_budget_seconds=budget, max_attempts=attempts)


def _from_env(env: Any, name: str, kind: type, default: Any) -> Any:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise UsageError(f"{name} must be a {kind.__name__} (it is not)") from None
    if value <= 0:
        raise UsageError(f"{name} must be greater than 0")
    return value


def _partner(args: argparse.Namespace) -> AbstractAsyncContextManager[Any]:
    """The Partner API to run against. Checks every option and setting first (UsageError)."""
    from local_host.partner import live_partner, sandbox_partner

    if args.live:
        if args.faults or args.latency_ms or args.seed:
            raise UsageError("--faults, --latency-ms and --seed are sandbox options")
        from shared.settings import Settings, SettingsError

        try:
            return live_partner(Settings.from_env())
        except SettingsError as exc:
            raise UsageError(f"--live needs the RELAY_* settings: {exc}") from None
    from partner_sandbox.config import config_from_args

    try:
        return sandbox_partner(config_from_args(args))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _confirmed(args: argparse.Namespace, count: int) -> bool:
    """Ask before posting to a live tenant; without a terminal, only --yes says yes."""
    from shared.settings import Settings

    if args.yes:
        return True
    settings = Settings.from_env()
    question = (
        f"About to send {count} message(s) to the LIVE Partner Center API at "
        f"{settings.partner_api_url} (tenant {settings.tenant_id}); referrals created there "
        "are real. Continue? [y/N] "
    )
    if not sys.stdin.isatty():
        print(
            "referral-relay run: --live posts to a real tenant; without a terminal to confirm "
            "on, pass --yes",
            file=sys.stderr,
        )
        return False
    print(question, end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().casefold()
    if answer in ("y", "yes"):
        return True
    print("nothing sent", file=sys.stderr)
    return False


async def _run(
    args: argparse.Namespace,
    messages: list[InputMessage],
    updates: list[InputMessage],
    limits: Limits,
    partner_cm: AbstractAsyncContextManager[Any],
    *,
    progress: bool,
) -> int:
    import dataclasses

    from local_host.report import REACHED, summary
    from local_host.stack import local_stack
    from relay_cli.progress import Progress
    from shared import names
    from shared.handlers.common import HandlerConfig
    from shared.telemetry import outcomes

    started = time.perf_counter()
    config = dataclasses.replace(
        HandlerConfig(),
        retry_budget_seconds=limits.retry_budget_seconds,
        max_attempts=limits.max_attempts,
        # A claim must outlive the invocation that holds it (as the app settings require).
        claim_ttl_seconds=max(HandlerConfig().claim_ttl_seconds, limits.retry_budget_seconds + 60),
    )
    async with AsyncExitStack() as exits:
        ledger = marks = None
        if args.live:
            from relay_cli.live_ledger import open_ledger

            opened = await exits.enter_async_context(open_ledger(args.ledger))
            ledger, marks = opened.ledger, opened.marks
            # A ledger that knows nothing of earlier runs cannot prove that nothing was posted.
            config = dataclasses.replace(config, lookup_on_first_claim=opened.is_new)
        partner = await exits.enter_async_context(partner_cm)
        stack = await exits.enter_async_context(
            local_stack(partner.api, config=config, ledger=ledger, marks=marks)
        )
        ids = message_ids(messages, stable=args.live)
        tracker = Progress(len(messages), enabled=progress)
        unsubscribe = outcomes.subscribe(tracker.observe)
        try:
            sent = [
                (m.source, stack.publish(m.body, message_id=message_id))
                for m, message_id in zip(messages, ids, strict=True)
            ]
            tracker.expect([message_id for _, message_id in sent])
            finished = await stack.drain()
            # After the creates (an update names a referral that exists by now), one at a time
            # in the order given, as a CRM sends them over time: the run is deterministic.
            sent_updates = []
            for update in updates:
                sent_updates.append(
                    (update.source, stack.publish(update.body, queue=names.UPDATES_QUEUE))
                )
                finished = await stack.drain() and finished
        finally:
            unsubscribe()
            tracker.close()
        results = [stack.result(source, message_id) for source, message_id in sent]
        results += [stack.log.update_result_for(s, m) for s, m in sent_updates]
        events = _outcome_events(stack) if args.events else []
        stats = await partner.sandbox_stats()
    if args.events:
        _write_events(args.events, events)
    out = sys.stderr if args.events == "-" else sys.stdout  # stdout carries the events then
    syntax = {m.source: m.syntax for m in messages if m.syntax}
    if args.json:
        for result in results:
            out.write(json.dumps(result.to_json()) + "\n")
    else:
        width = max((len(r.source) for r in results), default=10)
        for result in results:
            line = result.to_text(width)
            if result.source in syntax:
                line += f"  ({syntax[result.source]})"
            out.write(line + "\n")
        out.write(_footer(summary(results), stats, time.perf_counter() - started, finished))
    outcomes_seen = Counter(r.outcome for r in results)
    every_input_done = finished and all(r.outcome in REACHED for r in results)
    return EXIT_OK if every_input_done and not outcomes_seen["failed"] else EXIT_UNFINISHED


def message_ids(messages: list[InputMessage], *, stable: bool) -> list[str | None]:
    """MessageIds to publish under. None: a fresh uuid (the key is externalReferenceId, or a
    sandbox run starts from nothing anyway). With `stable` (a durable ledger), a body without
    externalReferenceId is keyed on its MessageId, so that id must be the same on every run of
    the same file: a digest of the body and its occurrence in this run."""
    if not stable:
        return [None] * len(messages)
    seen: Counter[str] = Counter()
    ids: list[str | None] = []
    for message in messages:
        if _has_key(message.body):
            ids.append(None)
            continue
        digest = hashlib.sha256(message.body).hexdigest()[:40]
        seen[digest] += 1
        ids.append(f"body-{digest}-{seen[digest]}")
    return ids


def _has_key(body: bytes) -> bool:
    try:
        value = json.loads(body)
    except ValueError:
        return False
    return isinstance(value, dict) and bool(value.get("externalReferenceId"))


def _outcome_events(stack: Any) -> list[bytes]:
    """Everything on the `outcomes` subscription, in order: what a CRM's reader would get."""
    from shared import names

    entity = stack.broker.entity(topic=names.EVENTS_TOPIC, subscription=names.OUTCOMES_SUBSCRIPTION)
    bodies: list[bytes] = []
    while (message := entity.receive()) is not None:
        bodies.append(message.body)
        entity.complete(message)
    return bodies


def _write_events(target: str, events: list[bytes]) -> None:
    lines = "".join(json.dumps(json.loads(body), separators=(",", ":")) + "\n" for body in events)
    if target == "-":
        sys.stdout.write(lines)
        sys.stdout.flush()
        return
    with open(target, "w", encoding="utf-8") as file:
        file.write(lines)


def _progress_wanted(args: argparse.Namespace) -> bool:
    if args.progress is not None:
        return bool(args.progress)
    return not args.json and args.events != "-" and sys.stderr.isatty()


class _ProgressStream:
    """Log lines printed above the progress bar instead of through it."""

    def write(self, text: str) -> int:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr, end="")
        return len(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _footer(text: str, stats: dict[str, Any], seconds: float, finished: bool) -> str:
    lines = [text]
    if stats:
        calls = sum(sum(by_status.values()) for by_status in stats.get("requests", {}).values())
        referrals = stats.get("referrals", {}).get("stored", "?")
        lines.append(f"sandbox: {referrals} referral(s) stored, {calls} HTTP request(s) served")
    lines.append(f"took {seconds:.2f}s" + ("" if finished else " (stopped before idle)"))
    return "\n".join(lines) + "\n"


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if not 0 < value <= MAX_RETRY_BUDGET:
        raise argparse.ArgumentTypeError(f"must be greater than 0 and at most {MAX_RETRY_BUDGET}")
    return value
