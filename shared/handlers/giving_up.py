"""The two ways a message ends without a referral, shared by both handlers: `referral-rejected`
(it can never succeed) and `referral-failed` (it ran out of attempts). Both event ids name the
key and the message lineage, so a repeat is dropped and a corrected resend is not."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress

from shared.contracts.envelope import MessageMeta
from shared.contracts.errors import FieldError
from shared.contracts.events import (
    ReferralFailedData,
    ReferralFailedEvent,
    ReferralRejectedData,
    ReferralRejectedEvent,
    Stage,
    event_id,
    now,
    to_outbound,
)
from shared.handlers.common import HandlerDeps, Outcome
from shared.ledger.port import LedgerConflict, Record
from shared.names import REFERRAL_FAILED, REFERRAL_REJECTED
from shared.partner_api.errors import PermanentError


async def reject(
    deps: HandlerDeps,
    meta: MessageMeta,
    *,
    key: str,
    source: str,
    stage: Stage,
    errors: Sequence[FieldError],
    refused: PermanentError | None = None,
    external_reference_id: str | None = None,
) -> Outcome:
    lineage = meta.original_message_id
    event = ReferralRejectedEvent(
        id=event_id(REFERRAL_REJECTED, f"{key}/{lineage}"),
        source=source,
        time=now(),
        subject=key,
        data=ReferralRejectedData(
            idempotencyKey=key,
            externalReferenceId=external_reference_id,
            messageId=lineage,
            stage=stage,
            errors=list(errors),
            httpStatus=refused.status if refused else None,
            partnerRequestId=refused.request_id if refused else None,
        ),
    )
    await deps.publisher.publish(
        to_outbound(event, correlation_id=meta.correlation_id, traceparent=meta.traceparent)
    )
    return Outcome(
        kind="rejected",
        key=key,
        errors=tuple(errors),
        error_code=errors[0].code if errors else None,
        attempt=meta.attempt + meta.delivery_count,
    )


async def fail(
    deps: HandlerDeps,
    meta: MessageMeta,
    record: Record | None,
    *,
    key: str,
    ledger_key: str,
    source: str,
    stage: Stage,
    attempts: int,
    code: str,
    cause: BaseException,
    external_reference_id: str | None = None,
) -> None:
    """Publish `referral-failed`, then mark the ledger record failed for this lineage."""
    event = ReferralFailedEvent(
        id=event_id(REFERRAL_FAILED, f"{ledger_key}/{meta.original_message_id}"),
        source=source,
        time=now(),
        subject=key,
        data=ReferralFailedData(
            idempotencyKey=key,
            externalReferenceId=external_reference_id,
            messageId=meta.original_message_id,
            stage=stage,
            attempts=attempts,
            errorCode=code,
            httpStatus=getattr(cause, "status", None),
            partnerRequestId=getattr(cause, "request_id", None),
            # A POST went out under this claim (the flag is set before each) and no attempt
            # since has found or recorded the referral: it may exist all the same.
            referralMayExist=record is not None and record.posted,
        ),
    )
    # Event first: if we die before the ledger says "failed", a redelivery repeats both and the
    # repeated event has the same id (dropped by duplicate detection).
    await deps.publisher.publish(
        to_outbound(event, correlation_id=meta.correlation_id, traceparent=meta.traceparent)
    )
    if record is not None:
        with suppress(LedgerConflict):  # taken over meanwhile: the new holder decides
            await deps.ledger.fail(record, error_code=code)
