"""connect_referral: a `referral-created` event of a Shared referral → the connected referral
addressed to Microsoft (fact sheet §7), once per engagement.

Keyed on the engagement id in the ledger. Before creating, the engagement's referrals are listed
(`engagementId eq '…'`) and one already targeting `BusinessProfileLocation`/`msft` is adopted.
Retries: transient failures retry inside the invocation's budget; past it the message is
abandoned so Service Bus redelivers it (a subscription cannot take scheduled copies without
every other subscriber seeing them); at `max_attempts` deliveries → `referral-failed`, and the
message is abandoned until it dead-letters.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any, Final

from pydantic import ValidationError

from shared.contracts.envelope import InboundMessage, MessageMeta, read_meta
from shared.contracts.errors import ContractViolation, FieldError
from shared.contracts.events import (
    ReferralConnectedData,
    ReferralConnectedEvent,
    ReferralCreatedData,
    ReferralCreatedEvent,
    event_id,
    now,
    to_outbound,
)
from shared.contracts.referral import MICROSOFT_TARGET, Referral
from shared.contracts.validation import project_onto_request, validate_referral_request
from shared.handlers.common import (
    CLAIM_BUSY,
    DeadLetterRequested,
    HandlerDeps,
    Outcome,
    OutcomeKind,
    RetryLater,
    error_code,
    is_transient,
    new_owner,
    refusal_errors,
)
from shared.handlers.giving_up import fail, reject
from shared.ledger.port import AlreadyCompleted, AlreadyFailed, Busy, LedgerConflict, Record, Scope
from shared.names import REFERRAL_CONNECTED
from shared.partner_api.errors import PermanentError, TransientError
from shared.partner_api.odata import guid_eq

SOURCE: Final = "/referral-relay/connect_referral"
# What the connected referral copies from ours (fact sheet §7: same customer, consent, details).
COPIED_FIELDS: Final = ("name", "customerProfile", "consent", "details", "team", "qualification")


async def handle_connect(message: InboundMessage, deps: HandlerDeps) -> Outcome:
    meta = read_meta(message)
    try:
        created = ReferralCreatedEvent.model_validate_json(message.get_body()).data
    except ValidationError:
        problem = FieldError(path="", code="not_a_referral_created_event", message=_NOT_EVENT)
        return await reject(
            deps, meta, key=meta.message_id, source=SOURCE, stage="connect", errors=(problem,)
        )
    if created.referralType != "Shared":
        return Outcome(kind="skipped", key=created.idempotencyKey, referral_id=created.referralId)
    return await _Connect(deps, meta, created).run()


_NOT_EVENT: Final = "the message is not a referral-created CloudEvent"


class _Connect:
    record: Record  # our claim once we hold it; replaced by every ledger write (new ETag)

    def __init__(self, deps: HandlerDeps, meta: MessageMeta, created: ReferralCreatedData):
        self.deps = deps
        self.meta = meta
        self.created = created
        self.engagement = created.engagementId
        self.attempt = meta.delivery_count

    async def run(self) -> Outcome:
        deps = self.deps
        claim = await deps.ledger.claim(
            Scope.CONNECT,
            self.engagement,
            owner=new_owner(),
            lineage=self.meta.original_message_id,
            ttl=deps.config.claim_ttl_seconds,
            now=deps.clock.time(),
        )
        if isinstance(claim, AlreadyCompleted):
            ours = claim.record.lineage == self.meta.original_message_id
            return await self._publish_connected(
                claim.record, kind="connected" if ours else "duplicate"
            )
        if isinstance(claim, AlreadyFailed):
            raise DeadLetterRequested(
                "this message already gave up (referral-failed was sent)",
                self._outcome("failed", error_code=claim.record.error_code),
            )
        if isinstance(claim, Busy):
            return await self._retry_later(None, RetryLater(CLAIM_BUSY))
        self.record = claim.record
        await deps.checkpoint("claimed")
        deadline = deps.clock.monotonic() + deps.config.retry_budget_seconds
        try:
            connected, adopted = await self._find_or_create(deadline)
        except (PermanentError, ContractViolation) as refused:
            with suppress(LedgerConflict):
                await deps.ledger.release(self.record)
            errors = (
                refused.errors
                if isinstance(refused, ContractViolation)
                else refusal_errors(refused)
            )
            api_error = refused if isinstance(refused, PermanentError) else None
            return await reject(
                deps,
                self.meta,
                key=self.created.idempotencyKey,
                source=SOURCE,
                stage="connect",
                errors=errors,
                refused=api_error,
                external_reference_id=self.created.externalReferenceId,
            )
        except Exception as exc:
            if not is_transient(exc):
                raise
            return await self._retry_later(self.record, exc)
        await deps.checkpoint("posted")
        record = await deps.ledger.complete(
            self.record,
            referral_id=connected.id or "",
            engagement_id=self.engagement,
            result={"adopted": "true" if adopted else "false"},
        )
        await deps.checkpoint("recorded")
        outcome = await self._publish_connected(record, kind="connected")
        await deps.checkpoint("published")
        return outcome

    async def _find_or_create(self, deadline: float) -> tuple[Referral, bool]:
        """Keeps `self.record` current: every ledger write changes its ETag."""
        api, clock = self.deps.api, self.deps.clock
        ours = await api.get_referral(
            self.created.referralId, correlation_id=self.meta.correlation_id, deadline=deadline
        )
        body = self._microsoft_body(ours)
        pause = 0.2
        while True:
            existing = await self._existing_microsoft_referral(deadline)
            if existing is not None:
                return existing, True
            if not self.record.posted:
                self.record = await self.deps.ledger.mark_posted(self.record)
            try:
                created = await api.create_referral(
                    body,
                    correlation_id=self.meta.correlation_id,
                    deadline=deadline,
                    retry_ambiguous=False,
                )
                return created, False
            except TransientError as exc:
                if not exc.ambiguous or deadline - clock.monotonic() <= pause:
                    raise
                await clock.sleep(pause)  # it may exist now: list the engagement again
                pause = min(pause * 2, 5.0)

    def _microsoft_body(self, ours: Referral) -> dict[str, Any]:
        wire = ours.to_wire()
        copied = {k: wire[k] for k in COPIED_FIELDS if wire.get(k) is not None}
        body: dict[str, Any] = project_onto_request(copied)
        body.update(type="Shared", engagementId=self.engagement, target=[dict(MICROSOFT_TARGET)])
        validate_referral_request(body)  # strict on what we send; raises ContractViolation
        return body

    async def _existing_microsoft_referral(self, deadline: float) -> Referral | None:
        async for referral in self.deps.api.list_referrals(
            filter=guid_eq("engagementId", self.engagement).render(),
            correlation_id=self.meta.correlation_id,
            deadline=deadline,
        ):
            if referral.targets_microsoft() and referral.id:
                return referral
        return None

    async def _publish_connected(self, record: Record, *, kind: str) -> Outcome:
        connected_id = record.referral_id or ""
        event = ReferralConnectedEvent(
            id=event_id(REFERRAL_CONNECTED, connected_id),
            source=SOURCE,
            time=now(),
            subject=self.created.idempotencyKey,
            data=ReferralConnectedData(
                idempotencyKey=self.created.idempotencyKey,
                externalReferenceId=self.created.externalReferenceId,
                referralId=self.created.referralId,
                connectedReferralId=connected_id,
                engagementId=self.engagement,
                adopted=record.result.get("adopted") == "true",
            ),
        )
        await self.deps.publisher.publish(
            to_outbound(
                event,
                correlation_id=self.meta.correlation_id,
                referral_type="Shared",
                traceparent=self.meta.traceparent,
            )
        )
        return Outcome(
            kind="connected" if kind == "connected" else "duplicate",
            key=self.created.idempotencyKey,
            referral_id=self.created.referralId,
            engagement_id=self.engagement,
            connected_referral_id=connected_id,
            referral_type="Shared",
            attempt=self.attempt,
        )

    async def _retry_later(self, record: Record | None, exc: BaseException) -> Outcome:
        code = exc.reason if isinstance(exc, RetryLater) else error_code(exc)
        if self.attempt < self.deps.config.max_attempts:
            if record is not None:
                with suppress(LedgerConflict):
                    await self.deps.ledger.release(record)
            raise RetryLater(code, self._outcome("rescheduled", error_code=code))
        await fail(
            self.deps,
            self.meta,
            record,
            key=self.created.idempotencyKey,
            ledger_key=self.engagement,
            source=SOURCE,
            stage="connect",
            attempts=self.attempt,
            code=code,
            cause=exc,
            external_reference_id=self.created.externalReferenceId,
        )
        raise DeadLetterRequested(
            f"gave up after {self.attempt} deliveries ({code})",
            self._outcome("failed", error_code=code),
        )

    def _outcome(self, kind: OutcomeKind, *, error_code: str | None) -> Outcome:
        return Outcome(
            kind=kind,
            key=self.created.idempotencyKey,
            referral_id=self.created.referralId,
            engagement_id=self.engagement,
            referral_type="Shared",
            error_code=error_code,
            attempt=self.attempt,
        )
