"""`referral-relay dlq list|replay --namespace NS [--entity E] [--max N] [--dry-run] [--json]`.

`list` shows what sits in a dead-letter queue: sequence number, enqueue time, delivery count,
MessageId, reason and description. Never the body or the application properties: those carry
customer data.

`replay` resubmits dead letters to their entity - the queue itself, or for connect-referral its
topic (so `outcomes` readers see the event again, with the same CloudEvents id) - as a copy with
the same body, MessageId, CorrelationId, Subject and application properties (minus Service Bus's
dead-letter reason). Each dead letter is removed only after its copy was accepted; a failed
resend leaves it where it was.

Both entities detect duplicates by MessageId: a copy sent within the duplicate detection window
(10 minutes) of the original's enqueue time would be dropped silently, so such dead letters are
held (left in place, reported) rather than lost.

A message that ended in referral-failed is recorded as failed for its lineage in the ledger: if
it is replayed as is, it dead-letters again. `--as-new` resends it as a new lineage instead (new
MessageId, reschedule counters cleared) when that keeps its idempotency key, and so the
exactly-once guarantee: queue messages with an externalReferenceId (else the MessageId is the
key), and every connect-referral event (connect's key is the engagement in the event's body).
The new lineage looks the referral up before posting, so one that did get created is found.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, TextIO

from relay_cli.argtypes import add_namespace, positive_int
from relay_cli.operator.ports import (
    CONNECT,
    DEAD_LETTER_PROPERTIES,
    REQUESTS,
    DeadLetter,
    Entity,
    OperatorBus,
    OutgoingMessage,
)
from relay_cli.operator.runner import EXIT_AZURE, on_namespace
from shared.names import (
    DUPLICATE_DETECTION_WINDOW_MINUTES,
    PROP_ATTEMPT,
    PROP_EXTERNAL_REFERENCE_ID,
    PROP_ORIGINAL_MESSAGE_ID,
)

ENTITIES: Final = {REQUESTS.path: REQUESTS, CONNECT.path: CONNECT}
DUPLICATE_WINDOW: Final = timedelta(minutes=DUPLICATE_DETECTION_WINDOW_MINUTES)
DEFAULT_MAX: Final = 50
EXIT_INCOMPLETE: Final = 1

Verdict = Literal["replay", "hold", "skip"]


@dataclass(frozen=True, slots=True)
class Plan:
    letter: DeadLetter
    verdict: Verdict
    why: str
    copy: OutgoingMessage | None


def plan_replay(
    letter: DeadLetter,
    *,
    entity: Entity,
    now: datetime,
    as_new: bool = False,
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> Plan:
    """Decide what to do with one dead letter, and build the copy to send."""
    if not letter.message_id:
        return Plan(letter, "skip", "it has no MessageId", None)
    if not as_new and letter.enqueued_time is not None:
        free_at = letter.enqueued_time + DUPLICATE_WINDOW
        if now < free_at:
            why = f"duplicate detection would drop it until {_time(free_at)}"
            return Plan(letter, "hold", why, None)
    properties = {
        k: v for k, v in letter.application_properties.items() if k not in DEAD_LETTER_PROPERTIES
    }
    message_id = letter.message_id
    if as_new:
        if entity.is_queue and not _has_external_reference(letter.body):
            why = "--as-new needs an externalReferenceId (a new MessageId would be a new key)"
            return Plan(letter, "skip", why, None)
        properties.pop(PROP_ATTEMPT, None)
        properties.pop(PROP_ORIGINAL_MESSAGE_ID, None)
        message_id = new_id()
    copy = OutgoingMessage(
        body=letter.body,
        message_id=message_id,
        correlation_id=letter.correlation_id,
        subject=letter.subject,
        content_type=letter.content_type,
        application_properties=properties,
    )
    return Plan(letter, "replay", f"to {entity.send_to}", copy)


async def list_dead_letters(
    bus: OperatorBus,
    entity: Entity,
    *,
    max_count: int,
    as_json: bool = False,
    out: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    async with bus.dead_letter_queue(entity) as queue:
        letters = await queue.peek(max_count)
    if as_json:
        for letter in letters:
            print(json.dumps(letter_to_json(letter)), file=out)
        return 0
    print(
        f"{'SEQ':>6}  {'ENQUEUED (UTC)':20}  {'DELIVERIES':>10}  MESSAGE ID  REASON  DESCRIPTION",
        file=out,
    )
    for letter in letters:
        print(
            f"{letter.sequence_number:>6}  {_time(letter.enqueued_time):20}  "
            f"{_or_dash(letter.delivery_count):>10}  {_or_dash(letter.message_id)}  "
            f"{_or_dash(letter.reason)}  {_or_dash(letter.description)}",
            file=out,
        )
    more = " (--max reached; there may be more)" if len(letters) == max_count else ""
    print(f"{len(letters)} dead-lettered message(s) on {entity.path}{more}", file=out)
    return 0


async def replay_dead_letters(
    bus: OperatorBus,
    entity: Entity,
    *,
    max_count: int,
    dry_run: bool = False,
    as_new: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    as_json: bool = False,
    out: TextIO | None = None,
) -> int:
    """Replay up to `max_count` dead letters. Exit 1 when any was held, skipped or not resent.
    With `as_json`, one JSON object per dead letter (action, why, ids) and no summary line."""
    out = out or sys.stdout
    counts = {"replayed": 0, "held": 0, "skipped": 0, "failed": 0}

    def report(text: str, action: str, letter: DeadLetter, why: str, new_id: str | None) -> None:
        if not as_json:
            print(text, file=out)
            return
        line = {"action": action, "sequenceNumber": letter.sequence_number}
        line |= {"messageId": letter.message_id, "why": why, "newMessageId": new_id}
        print(json.dumps(line), file=out)

    async with bus.dead_letter_queue(entity) as queue:
        if dry_run:
            for letter in await queue.peek(max_count):
                plan = plan_replay(letter, entity=entity, now=now(), as_new=as_new)
                text = f"would {plan.verdict} {_describe(letter)}: {plan.why}"
                new_id = plan.copy.message_id if plan.copy else None
                report(text, f"would-{plan.verdict}", letter, plan.why, new_id)
            if not as_json:
                print("dry run: nothing was sent or removed", file=out)
            return 0
        letters = await queue.receive(max_count)
        async with bus.sender(entity) as sender:
            for letter in letters:
                plan = plan_replay(letter, entity=entity, now=now(), as_new=as_new)
                if plan.copy is None:
                    await queue.abandon(letter)  # stays in the dead-letter queue
                    action = "held" if plan.verdict == "hold" else "skipped"
                    counts[action] += 1
                    text = f"{plan.verdict} {_describe(letter)}: {plan.why}"
                    report(text, action, letter, plan.why, None)
                    continue
                try:
                    await sender.send(plan.copy)
                except Exception as exc:  # not resent: keep the dead letter
                    await queue.abandon(letter)
                    counts["failed"] += 1
                    why = f"{type(exc).__name__}; kept"
                    report(f"FAILED {_describe(letter)}: {why}", "failed", letter, why, None)
                    continue
                await queue.complete(letter)
                counts["replayed"] += 1
                new_id = plan.copy.message_id
                text = f"replayed {_describe(letter)} as MessageId={new_id}"
                report(text, "replayed", letter, plan.why, new_id)
    if not as_json:
        print(", ".join(f"{n} {k}" for k, n in counts.items()), file=out)
    return 0 if counts["replayed"] == len(letters) else EXIT_INCOMPLETE


def run(args: argparse.Namespace, bus: OperatorBus | None = None) -> int:
    entity = ENTITIES[args.entity]

    async def work(bus: OperatorBus) -> int:
        if args.action == "list":
            return await list_dead_letters(bus, entity, max_count=args.max, as_json=args.json)
        return await replay_dead_letters(
            bus,
            entity,
            max_count=args.max,
            dry_run=args.dry_run,
            as_new=args.as_new,
            as_json=args.json,
        )

    if bus is not None:
        return asyncio.run(work(bus))
    return asyncio.run(on_namespace(args.namespace, work, command=f"dlq {args.action}"))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "dlq",
        help="list or replay dead-lettered messages",
        description=(
            "Work a dead-letter queue with DefaultAzureCredential. "
            f"Exit 0 done, {EXIT_INCOMPLETE} some messages not replayed, 2 usage, "
            f"{EXIT_AZURE} Azure error."
        ),
    )
    actions = parser.add_subparsers(
        dest="action", metavar="ACTION", required=True, help="list or replay"
    )
    for action, help_text in (
        ("list", "list dead letters: ids, reasons, counts and times, never bodies"),
        ("replay", "resubmit dead letters to their entity, removing each once resent"),
    ):
        child = actions.add_parser(action, help=help_text, description=__doc__)
        child.formatter_class = argparse.RawDescriptionHelpFormatter
        add_namespace(child)
        child.add_argument(
            "--entity",
            choices=sorted(ENTITIES),
            default=REQUESTS.path,
            help="the queue, or the connect-referral subscription (default %(default)s)",
        )
        child.add_argument("--json", action="store_true", help="one JSON object per message")
        child.add_argument(
            "--max", type=positive_int, default=DEFAULT_MAX, help="at most N messages (%(default)s)"
        )
        if action == "replay":
            child.add_argument(
                "--dry-run", action="store_true", help="show what would be replayed; change nothing"
            )
            child.add_argument(
                "--as-new",
                action="store_true",
                help="resend as a new lineage (queue messages need an externalReferenceId)",
            )
        else:
            child.set_defaults(dry_run=False, as_new=False)
        child.set_defaults(handler=run)


def letter_to_json(letter: DeadLetter) -> dict[str, object]:
    """What `dlq list --json` prints of a dead letter: never its body or properties."""
    return {
        "sequenceNumber": letter.sequence_number,
        "enqueuedTime": _time(letter.enqueued_time) if letter.enqueued_time else None,
        "deliveryCount": letter.delivery_count,
        "messageId": letter.message_id,
        "correlationId": letter.correlation_id,
        "reason": letter.reason,
        "description": letter.description,
    }


def _has_external_reference(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and bool(data.get(PROP_EXTERNAL_REFERENCE_ID))


def _describe(letter: DeadLetter) -> str:
    return f"seq={letter.sequence_number} MessageId={_or_dash(letter.message_id)}"


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"


def _or_dash(value: object) -> str:
    return "-" if value is None or value == "" else str(value)
