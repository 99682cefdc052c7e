"""The two ways a message ends without a referral, shared by both handlers: `referral-rejected`
(it can never succeed) and `referral-failed` (it ran out of attempts). Both event ids name the
key and the message lineage, so a repeat is dropped and a corrected resend is not."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

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
from shared.names import REFERRAL_FAILED, REFERRAL_REJECTED
from shared.partner_api.errors import PermanentError


def failed_event_id(ledger_key: str, lineage: str) -> str:
    """The id of the `referral-failed` of one lineage: a later success names it (`supersedes`)."""
    return event_id(REFERRAL_FAILED, f"{ledger_key}/{lineage}")


def keyless_subject(body: bytes) -> str:
    """The subject of a rejection for a message with neither externalReferenceId nor MessageId
    (CloudEvents forbids an empty subject): its body's digest, so a repeat gets the same id."""
    return "no-key:" + hashlib.sha256(body).hexdigest()[:32]


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
    subject: str | None = None,
) -> Outcome:
    """`subject`: when the key is empty (no key at all), what names the message instead."""
    lineage = meta.original_message_id
    subject = key or subject or keyless_subject(b"")
    event = ReferralRejectedEvent(
        id=event_id(REFERRAL_REJECTED, f"{subject}/{lineage}"),
        source=source,
        time=now(),
        subject=subject,
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


async def publish_failed(
    deps: HandlerDeps,
    meta: MessageMeta,
    *,
    key: str,
    ledger_key: str,
    source: str,
    stage: Stage,
    attempts: int,
    code: str,
    referral_may_exist: bool,
    cause: BaseException | None = None,
    external_reference_id: str | None = None,
) -> None:
    """Publish `referral-failed` for this message lineage. The caller has made it final first
    (the ledger accepted `failed` under its claim), so a success cannot follow it unnoticed."""
    event = ReferralFailedEvent(
        id=failed_event_id(ledger_key, meta.original_message_id),
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
            # A POST went out under this key (the flag is set before each) and nothing since
            # has found or recorded the referral: it may exist all the same.
            referralMayExist=referral_may_exist,
        ),
    )
    await deps.publisher.publish(
        to_outbound(event, correlation_id=meta.correlation_id, traceparent=meta.traceparent)
    )
