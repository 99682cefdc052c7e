"""`referral-relay send --namespace NS [--queue Q] PATH...`: publish referral requests.

Every message is validated first, exactly as `validate` does; if any is invalid nothing is sent
and the validate report says why. All-or-nothing on purpose: a message without
externalReferenceId gets a fresh MessageId, so re-running a half-sent file would create those
referrals twice.

Each message goes out with MessageId = its idempotency key (externalReferenceId, or a generated
id when the body has none) and a CorrelationId (a new uuid per message unless --correlation-id).

With `--queue referral-updates` the messages are update messages (validated as such), and each
MessageId is a digest of its body: a resend of the same update is dropped by the queue's
duplicate detection, while every different update of one referral goes through.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, TextIO

from relay_cli.commands.validate import check, check_update_message, format_report
from relay_cli.inputs import InputMessage, add_input_arguments, load_inputs
from relay_cli.operator.ports import Entity, OperatorBus, OutgoingMessage
from relay_cli.operator.runner import EXIT_AZURE, on_namespace
from shared.names import PROP_EXTERNAL_REFERENCE_ID, PROP_SOURCE, REQUESTS_QUEUE, UPDATES_QUEUE

MAX_MESSAGE_ID: Final = 128  # Service Bus limit on MessageId length
DEFAULT_SOURCE: Final = "referral-relay-cli"
EXIT_INVALID: Final = 1
EXIT_USAGE: Final = 2


@dataclass(frozen=True, slots=True)
class Prepared:
    source: str  # where the message came from (path[:line]), for the report
    message: OutgoingMessage
    generated_id: bool


def message_id_for(key: str) -> str:
    """The idempotency key, or a stable digest of it when Service Bus cannot hold it as is."""
    if len(key) <= MAX_MESSAGE_ID:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def prepare(
    message: InputMessage,
    *,
    correlation_id: str | None,
    source: str | None,
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    update: bool = False,
) -> Prepared:
    """Turn one validated input into the Service Bus message to send."""
    properties = {PROP_SOURCE: source} if source else {}
    if update:
        return Prepared(
            source=message.source,
            message=OutgoingMessage(
                body=message.body,
                message_id="update-" + hashlib.sha256(message.body).hexdigest()[:48],
                correlation_id=correlation_id or str(uuid.uuid4()),
                application_properties=properties,
            ),
            generated_id=False,
        )
    body = json.loads(message.body)
    key = body.get(PROP_EXTERNAL_REFERENCE_ID)
    generated = not key
    return Prepared(
        source=message.source,
        message=OutgoingMessage(
            body=message.body,
            message_id=new_id() if generated else message_id_for(key),
            correlation_id=correlation_id or str(uuid.uuid4()),
            application_properties=properties,
        ),
        generated_id=generated,
    )


async def send_messages(
    bus: OperatorBus,
    inputs: Sequence[InputMessage],
    *,
    queue: str,
    correlation_id: str | None = None,
    source: str | None = DEFAULT_SOURCE,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Validate all, then send all. Returns the exit code."""
    out = out or sys.stdout  # looked up per call, so redirected streams are honoured
    err = err or sys.stderr
    update = queue == UPDATES_QUEUE
    verdicts = [check_update_message(m) if update else check(m) for m in inputs]
    if not all(v.valid for v in verdicts):
        print(format_report(verdicts), file=err)
        print("nothing sent: fix the invalid messages and send again", file=err)
        return EXIT_INVALID
    prepared = [
        prepare(m, correlation_id=correlation_id, source=source, update=update) for m in inputs
    ]
    sent = 0
    async with bus.sender(Entity(queue)) as sender:
        for item in prepared:
            try:
                await sender.send(item.message)
            except Exception as exc:
                print(f"{item.source}: NOT SENT ({type(exc).__name__}: {exc})", file=err)
                print(f"{sent} of {len(prepared)} sent; the rest were not", file=err)
                return EXIT_AZURE
            sent += 1
            note = "  (no externalReferenceId: generated MessageId)" if item.generated_id else ""
            print(
                f"{item.source}: sent to {queue}  MessageId={item.message.message_id}"
                f"  CorrelationId={item.message.correlation_id}{note}",
                file=out,
            )
    print(f"{sent} message(s) sent", file=out)
    return 0


def run(args: argparse.Namespace, bus: OperatorBus | None = None) -> int:
    inputs = load_inputs("send", args.paths, args.map)
    if inputs is None:
        return EXIT_USAGE

    async def work(bus: OperatorBus) -> int:
        return await send_messages(
            bus, inputs, queue=args.queue, correlation_id=args.correlation_id, source=args.source
        )

    if bus is not None:
        return asyncio.run(work(bus))
    return asyncio.run(on_namespace(args.namespace, work, command="send"))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "send",
        help="validate and send referral requests to the Service Bus queue",
        description=(
            "Validate every message first (nothing is sent if any is invalid), then send each "
            "with MessageId = externalReferenceId (or a generated id) and a CorrelationId. "
            "Signs in with DefaultAzureCredential. Exit 0 sent, 1 invalid, 2 usage, 3 Azure error."
        ),
    )
    parser.add_argument(
        "--namespace", required=True, help="Service Bus namespace (name or host name)"
    )
    parser.add_argument(
        "--queue",
        default=REQUESTS_QUEUE,
        help=f"default {REQUESTS_QUEUE}; {UPDATES_QUEUE} for update messages",
    )
    parser.add_argument(
        "--correlation-id", help="CorrelationId for every message (default: a new uuid each)"
    )
    parser.add_argument(
        "--source", default=DEFAULT_SOURCE, help=f"'source' application property ({DEFAULT_SOURCE})"
    )
    add_input_arguments(parser)
    parser.set_defaults(handler=run)
