"""create_referral: one inbound message → at most one Partner Center referral → one event.

Validate (invalid → `referral-rejected`, complete: nothing to retry, nothing lost), then run the
exactly-once protocol (`shared.handlers.exactly_once`) with what is create's own:

* the key: `externalReferenceId`, else the message lineage's first MessageId — which is then
  written into the body's `externalReferenceId`, so a later attempt can find what an earlier
  one created;
* the body's hash (a second message with the same key and another body is rejected);
* the look-up: `externalReferenceId eq '<key>'`, and only a referral whose externalReferenceId
  *is* the key counts, whatever its target;
* the success: `referral-created`, with the same event id however often it is published;
* coming back later: a copy of the message scheduled on the queue, which carries the attempts
  spent so far (`relayAttempt`) and the waits (`relayWaits`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from shared.contracts.envelope import (
    InboundMessage,
    InvalidMessage,
    ReferralCommand,
    parse_message,
)
from shared.contracts.events import (
    ReferralCreatedData,
    ReferralCreatedEvent,
    Stage,
    event_id,
    now,
    to_outbound,
)
from shared.contracts.referral import Referral
from shared.handlers.common import HandlerDeps, Outcome
from shared.handlers.exactly_once import ExactlyOnce, SuccessKind, body_digest, superseded
from shared.handlers.giving_up import keyless_subject, reject
from shared.handlers.rescheduling import schedule_copy
from shared.ledger.port import Record, Scope
from shared.names import PROP_WAITS, REFERRAL_CREATED, REQUESTS_QUEUE
from shared.partner_api.odata import eq

SOURCE: Final = "/referral-relay/create_referral"


async def handle_create(message: InboundMessage, deps: HandlerDeps) -> Outcome:
    try:
        command = parse_message(message)
    except InvalidMessage as invalid:
        return await reject(
            deps,
            invalid.meta,
            key=invalid.idempotency_key,
            source=SOURCE,
            stage="validation",
            errors=invalid.errors,
            subject=None if invalid.idempotency_key else keyless_subject(message.get_body()),
        )
    return await ExactlyOnce(deps, CreateFlow(deps, command, message), command.meta).run()


class CreateFlow:
    scope: Final = Scope.CREATE
    stage: Final[Stage] = "create"
    source: Final = SOURCE
    success: Final[SuccessKind] = "created"
    waits_in_process: Final = False

    def __init__(self, deps: HandlerDeps, command: ReferralCommand, message: InboundMessage):
        self.deps = deps
        self.command = command
        self.message = message
        self.meta = command.meta
        self.key = self.subject = command.idempotency_key
        self.external_reference_id = command.referral.externalReferenceId
        self.body = _post_body(command)
        self.body_hash = body_digest(self.body)
        self.attempt = self.meta.attempt + self.meta.delivery_count
        self.waits = _int(message.application_properties, PROP_WAITS)

    def looks_up_first(self) -> bool:
        return False

    async def find(self, deadline: float) -> Referral | None:
        async for referral in self.deps.api.list_referrals(
            filter=eq("externalReferenceId", self.key).render(),
            correlation_id=self.meta.correlation_id,
            deadline=deadline,
        ):
            # The filter is a hint: a lagging, case-folding or ignored filter must not make
            # another customer's referral ours.
            if referral.id and referral.externalReferenceId == self.key:
                return referral
        return None

    async def post_body(self, deadline: float) -> Mapping[str, Any]:
        return self.body

    def recorded(
        self, referral: Referral, *, adopted: bool
    ) -> tuple[str, str | None, dict[str, str]]:
        given = self.command.referral.engagementId is not None
        return (
            referral.id or "",
            referral.engagementId,
            {
                "referralType": referral.type or self.command.referral.type,
                "status": referral.status or "",
                "substatus": referral.substatus or "",
                "messageId": self.meta.original_message_id,
                "engagementGiven": "true" if given else "false",
            },
        )

    async def publish_success(self, record: Record, *, kind: str) -> Outcome:
        result = record.result
        referral_type = result.get("referralType") or self.command.referral.type
        given = result.get("engagementGiven")
        event = ReferralCreatedEvent(
            id=event_id(REFERRAL_CREATED, record.referral_id or self.key),
            source=SOURCE,
            time=now(),
            subject=self.key,
            data=ReferralCreatedData(
                idempotencyKey=self.key,
                externalReferenceId=self.command.referral.externalReferenceId,
                referralId=record.referral_id or "",
                engagementId=record.engagement_id or "",
                referralType=referral_type,
                status=result.get("status") or None,
                substatus=result.get("substatus") or None,
                messageId=result.get("messageId") or self.meta.original_message_id,
                engagementGiven=None if given is None else given == "true",
                supersedes=superseded(record, self.key),
            ),
        )
        await self.deps.publisher.publish(
            to_outbound(
                event,
                correlation_id=self.meta.correlation_id,
                referral_type=referral_type,
                traceparent=self.meta.traceparent,
            )
        )
        return Outcome(
            kind="created" if kind == "created" else "duplicate",
            key=self.key,
            referral_id=record.referral_id,
            engagement_id=record.engagement_id,
            referral_type=referral_type,
            attempt=self.attempt,
        )

    async def come_back(self, delay: float, *, spend_attempt: bool, reason: str) -> Outcome:
        """Schedule a copy that counts the attempts made so far (a wait spends none)."""
        attempts = self.attempt if spend_attempt else self.attempt - 1
        waits = 0 if spend_attempt else self.waits + 1
        await schedule_copy(
            self.deps,
            self.message,
            self.meta,
            queue=REQUESTS_QUEUE,
            attempts=attempts,
            waits=waits,
            delay=delay,
        )
        return Outcome(kind="rescheduled", key=self.key, error_code=reason, attempt=self.attempt)


def _post_body(command: ReferralCommand) -> dict[str, Any]:
    body = command.body
    if body.get("externalReferenceId"):
        return body
    return {**body, "externalReferenceId": command.idempotency_key}


def _int(properties: Any, name: str) -> int:
    try:
        return int((properties or {}).get(name, 0))
    except (TypeError, ValueError):
        return 0
