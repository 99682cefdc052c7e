"""create_referral: one inbound message → at most one Partner Center referral → one event.

Exactly-once effect on at-least-once delivery (design §4):

1. Validate. Invalid → `referral-rejected`, complete (nothing to retry, nothing lost).
2. Claim the key in the ledger. Completed → republish the same `referral-created` (same event id:
   the topic drops the copy) and complete. Another live claim → retry later. Failed for this
   message lineage → keep abandoning until Service Bus dead-letters it.
3. If a POST may already have happened under this key (the ledger's `posted` flag, or an
   ambiguous failure in this invocation), look the referral up by externalReferenceId first.
4. Mark `posted`, POST, record `completed`, publish `referral-created`, complete.

Transient failures retry inside the client within the invocation's budget; past it the message
is rescheduled (a copy with a later enqueue time and `relayAttempt`+1); after `max_attempts`
→ `referral-failed`, and the message is abandoned until it dead-letters.

A message without externalReferenceId is posted with externalReferenceId = its MessageId, so a
redelivery can find what an earlier attempt created.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime
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
    event_id,
    now,
    to_outbound,
)
from shared.contracts.referral import Referral
from shared.handlers.common import (
    CLAIM_BUSY,
    DeadLetterRequested,
    HandlerDeps,
    Outcome,
    RetryLater,
    error_code,
    is_transient,
    new_owner,
    refusal_errors,
    retry_after,
)
from shared.handlers.giving_up import fail, reject
from shared.ledger.port import (
    AlreadyCompleted,
    AlreadyFailed,
    Busy,
    LedgerConflict,
    Record,
    Scope,
)
from shared.names import (
    PROP_ATTEMPT,
    PROP_ORIGINAL_MESSAGE_ID,
    PROP_WAITS,
    REFERRAL_CREATED,
    REQUESTS_QUEUE,
)
from shared.partner_api.errors import PermanentError, TransientError
from shared.partner_api.odata import eq
from shared.publishing.port import ScheduledMessage

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
        )
    return await _Create(deps, command, message).run()


class _Create:
    record: Record  # our claim once we hold it; replaced by every ledger write (new ETag)

    def __init__(self, deps: HandlerDeps, command: ReferralCommand, message: InboundMessage):
        self.deps = deps
        self.command = command
        self.message = message
        self.meta = command.meta
        self.key = command.idempotency_key
        self.attempt = self.meta.attempt + self.meta.delivery_count

    async def run(self) -> Outcome:
        deps = self.deps
        claim = await deps.ledger.claim(
            Scope.CREATE,
            self.key,
            owner=new_owner(),
            lineage=self.meta.original_message_id,
            ttl=deps.config.claim_ttl_seconds,
            now=deps.clock.time(),
        )
        if isinstance(claim, AlreadyCompleted):
            # Our own lineage finishing after a crash is still "created"; another publish of the
            # same key is a duplicate.
            ours = claim.record.lineage == self.meta.original_message_id
            return await self._republish(claim.record, kind="created" if ours else "duplicate")
        if isinstance(claim, AlreadyFailed):
            raise DeadLetterRequested(
                "this message already gave up (referral-failed was sent)",
                Outcome(kind="failed", key=self.key, error_code=claim.record.error_code),
            )
        if isinstance(claim, Busy):
            return await self._wait_for_holder(claim)
        self.record = claim.record
        await deps.checkpoint("claimed")
        deadline = deps.clock.monotonic() + deps.config.retry_budget_seconds
        try:
            referral = await self._create_or_find(deadline)
        except PermanentError as refused:
            await self._release(self.record)
            return await reject(
                deps,
                self.meta,
                key=self.key,
                source=SOURCE,
                stage="create",
                errors=refusal_errors(refused),
                refused=refused,
                external_reference_id=self.command.referral.externalReferenceId,
            )
        except Exception as exc:
            if not is_transient(exc):
                raise
            return await self._retry_later(self.record, exc)
        await deps.checkpoint("posted")
        record = await deps.ledger.complete(
            self.record,
            referral_id=referral.id or "",
            engagement_id=referral.engagementId,
            result={
                "referralType": referral.type or self.command.referral.type,
                "status": referral.status or "",
                "substatus": referral.substatus or "",
                "messageId": self.meta.original_message_id,
            },
        )
        await deps.checkpoint("recorded")
        outcome = await self._republish(record, kind="created")
        await deps.checkpoint("published")
        return outcome

    async def _create_or_find(self, deadline: float) -> Referral:
        """Keeps `self.record` current: every ledger write changes its ETag."""
        api, clock = self.deps.api, self.deps.clock
        body = self._post_body()
        may_have_posted = self.record.posted
        pause = 0.2
        while True:
            if may_have_posted:
                found = await self._find(body["externalReferenceId"], deadline)
                if found is not None:
                    return found
            if not self.record.posted:
                self.record = await self.deps.ledger.mark_posted(self.record)
            try:
                return await api.create_referral(
                    body,
                    correlation_id=self.meta.correlation_id,
                    deadline=deadline,
                    retry_ambiguous=False,
                )
            except TransientError as exc:
                remaining = deadline - clock.monotonic()
                if not exc.ambiguous or remaining <= pause:
                    raise
                # It may exist now: look it up before posting again.
                may_have_posted = True
                await clock.sleep(pause)
                pause = min(pause * 2, 5.0)

    def _post_body(self) -> dict[str, Any]:
        body = self.command.body
        if body.get("externalReferenceId"):
            return body
        return {**body, "externalReferenceId": self.key}

    async def _find(self, external_id: str, deadline: float) -> Referral | None:
        async for referral in self.deps.api.list_referrals(
            filter=eq("externalReferenceId", external_id).render(),
            correlation_id=self.meta.correlation_id,
            deadline=deadline,
        ):
            if not referral.targets_microsoft() and referral.id:
                return referral
        return None

    async def _republish(self, record: Record, kind: str = "duplicate") -> Outcome:
        result = record.result
        referral_type = result.get("referralType") or self.command.referral.type
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

    async def _release(self, record: Record) -> None:
        with suppress(LedgerConflict):  # taken over meanwhile: the new holder's claim stands
            await self.deps.ledger.release(record)

    async def _retry_later(self, record: Record | None, exc: BaseException) -> Outcome:
        config = self.deps.config
        code = exc.reason if isinstance(exc, RetryLater) else error_code(exc)
        if self.attempt >= config.max_attempts:
            await fail(
                self.deps,
                self.meta,
                record,
                key=self.key,
                ledger_key=self.key,
                source=SOURCE,
                stage="create",
                attempts=self.attempt,
                code=code,
                cause=exc,
                external_reference_id=self.command.referral.externalReferenceId,
            )
            raise DeadLetterRequested(
                f"gave up after {self.attempt} attempts ({code})",
                Outcome(kind="failed", key=self.key, error_code=code, attempt=self.attempt),
            )
        if record is not None:
            await self._release(record)
        backoff = config.reschedule_base_seconds * 2 ** (self.attempt - 1)
        delay = max(retry_after(exc) or 0.0, min(backoff, config.reschedule_max_seconds))
        await self._reschedule(delay, attempts=self.attempt, waits=0)
        return Outcome(kind="rescheduled", key=self.key, error_code=code, attempt=self.attempt)

    async def _wait_for_holder(self, busy: Busy) -> Outcome:
        """Another delivery of this key (a resend, or a crashed worker's claim) holds it: come back
        when that claim lapses. Waiting is not a failed attempt, so it spends no attempt; the
        number of waits is capped all the same."""
        waits = _int(self.message.application_properties, PROP_WAITS)
        if waits >= MAX_WAITS:
            return await self._retry_later(None, RetryLater(CLAIM_BUSY))
        now = self.deps.clock.time()
        lapses_in = busy.record.expires_at - now if busy.record else 0.0
        delay = max(lapses_in, 0.0) + self.deps.config.reschedule_base_seconds
        await self._reschedule(delay, attempts=self.attempt - 1, waits=waits + 1)
        return Outcome(
            kind="rescheduled", key=self.key, error_code=CLAIM_BUSY, attempt=self.attempt
        )

    async def _reschedule(self, delay: float, *, attempts: int, waits: int) -> None:
        """Send a copy that counts `attempts` made so far; its MessageId is unique per copy,
        yet the same if this invocation is repeated (the queue's duplicate detection drops it)."""
        props = dict(self.message.application_properties or {})
        props[PROP_ATTEMPT] = attempts
        props[PROP_WAITS] = waits
        props[PROP_ORIGINAL_MESSAGE_ID] = self.meta.original_message_id
        await self.deps.publisher.schedule(
            ScheduledMessage(
                queue=REQUESTS_QUEUE,
                body=self.message.get_body(),
                message_id=f"{self.meta.original_message_id}#retry{attempts}.{waits}",
                correlation_id=self.meta.correlation_id,
                application_properties=props,
                enqueue_at=datetime.fromtimestamp(self.deps.clock.time() + delay, UTC),
            )
        )


MAX_WAITS: Final = 20  # reschedules while another delivery holds the key, before it counts


def _int(properties: Any, name: str) -> int:
    try:
        return int((properties or {}).get(name, 0))
    except (TypeError, ValueError):
        return 0
