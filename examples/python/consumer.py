"""Read Referral Relay outcomes and write referralId / engagementId back to the CRM (Python kit).

    python consumer.py --namespace sb-relay-prod.servicebus.windows.net         # take + write back
    python consumer.py --namespace sb-relay-prod.servicebus.windows.net --peek  # only look

Outcomes are CloudEvents 1.0 (JSON) on the `outcomes` subscription of `referral-events`:
`referral-created`, `referral-connected`, `referral-rejected`, `referral-failed`. Each is
completed only after `write_back` returned, so a crash in between means the event comes again:
make the write-back idempotent (set fields, do not append). The identity needs *Azure Service Bus
Data Receiver* on the `outcomes` subscription. No connection strings, no keys.

Requires: azure-servicebus, azure-identity.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

TOPIC = "referral-events"
SUBSCRIPTION = "outcomes"


@dataclass(frozen=True)
class Outcome:
    """What the CRM needs from one event: which record, what happened, the Partner Center ids."""

    crm_id: str  # the CloudEvent subject: externalReferenceId, else the inbound MessageId
    event_type: str
    referral_id: str | None = None
    engagement_id: str | None = None
    connected_referral_id: str | None = None
    status: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    referral_may_exist: bool = False

    def line(self) -> str:
        parts = [f"{self.event_type:18}", f"crm={self.crm_id}"]
        for name, value in (
            ("referral", self.referral_id),
            ("engagement", self.engagement_id),
            ("connected", self.connected_referral_id),
            ("status", self.status),
        ):
            if value:
                parts.append(f"{name}={value}")
        parts += [f"error={e.get('path', '')} {e.get('code', '')}".strip() for e in self.errors]
        if self.referral_may_exist:
            parts.append("referralMayExist=true")
        return "  ".join(parts)


def outcome_from_event(body: bytes) -> Outcome:
    event = json.loads(body)
    data: dict[str, Any] = event.get("data") or {}
    status = "/".join(s for s in (data.get("status"), data.get("substatus")) if s) or None
    return Outcome(
        crm_id=event["subject"],
        event_type=event["type"],
        referral_id=data.get("referralId"),
        engagement_id=data.get("engagementId"),
        connected_referral_id=data.get("connectedReferralId"),
        status=status,
        errors=list(data.get("errors") or []),
        referral_may_exist=bool(data.get("referralMayExist")),
    )


def write_back(outcome: Outcome) -> None:
    """YOUR CODE: update the CRM record `outcome.crm_id`. This default only prints.

    referral-created / -connected: store referral_id and engagement_id (and the connected id);
    referral-rejected: show `errors` (JSON Pointer `path` + `code`) to whoever owns the record;
    referral-failed: alert; with referral_may_exist, do not recreate it by hand.
    """
    print(outcome.line(), flush=True)


class ReceivedMessage(Protocol):
    @property
    def body(self) -> Any: ...


class Receiver(Protocol):
    """What this kit needs of azure.servicebus.ServiceBusReceiver."""

    def receive_messages(
        self, max_message_count: int | None = 1, max_wait_time: float | None = None
    ) -> list[Any]: ...

    def peek_messages(self, max_message_count: int = 1) -> list[Any]: ...

    def complete_message(self, message: Any) -> None: ...

    def abandon_message(self, message: Any) -> None: ...


def body_bytes(message: ReceivedMessage) -> bytes:
    body = message.body  # the SDK yields the data sections; accept plain bytes too
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    return b"".join(bytes(part) for part in body)


def receive_outcomes(
    receiver: Receiver,
    on_outcome: Callable[[Outcome], None] = write_back,
    *,
    max_messages: int = 100,
    max_wait_time: float = 5.0,
) -> int:
    """Receive up to `max_messages` outcomes; complete each after `on_outcome` returned, abandon
    it (it comes again) when `on_outcome` raised. Returns how many were completed."""
    completed = 0
    while completed < max_messages:
        batch = receiver.receive_messages(
            max_message_count=min(32, max_messages - completed), max_wait_time=max_wait_time
        )
        if not batch:
            return completed
        for message in batch:
            try:
                on_outcome(outcome_from_event(body_bytes(message)))
            except Exception:
                receiver.abandon_message(message)  # delivered again; dead-lettered after 10
                raise
            receiver.complete_message(message)
            completed += 1
    return completed


def peek_outcomes(
    receiver: Receiver, on_outcome: Callable[[Outcome], None] = write_back, *, max_messages: int
) -> int:
    """Look at up to `max_messages` outcomes without taking them off the subscription."""
    messages: Iterable[Any] = receiver.peek_messages(max_message_count=max_messages)
    count = 0
    for message in messages:
        on_outcome(outcome_from_event(body_bytes(message)))
        count += 1
    return count


def fully_qualified(namespace: str) -> str:
    return namespace if "." in namespace else f"{namespace}.servicebus.windows.net"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Read Referral Relay outcome events.")
    parser.add_argument("--namespace", required=True, help="Service Bus namespace (name or host)")
    parser.add_argument("--peek", action="store_true", help="only look; remove nothing")
    parser.add_argument("--max", type=int, default=100, help="at most N events (100)")
    parser.add_argument("--wait", type=float, default=5.0, help="seconds to wait for more (5)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from azure.identity import DefaultAzureCredential
    from azure.servicebus import ServiceBusClient

    args = build_parser().parse_args(argv)
    with (
        ServiceBusClient(fully_qualified(args.namespace), DefaultAzureCredential()) as client,
        client.get_subscription_receiver(TOPIC, SUBSCRIPTION) as receiver,
    ):
        if args.peek:
            count = peek_outcomes(receiver, max_messages=args.max)
        else:
            count = receive_outcomes(receiver, max_messages=args.max, max_wait_time=args.wait)
    print(f"{count} outcome(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
