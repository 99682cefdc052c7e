"""Outcome events on topic `referral-events`: CloudEvents 1.0, structured-mode JSON (design §3).

Events carry ids and statuses, never customer contact data. Each event id is deterministic, so a
redelivered message republishes the *same* event and the topic's duplicate detection drops it:

* `referral-created:<referral id>`, `referral-connected:<connected referral id>`,
  `referral-updated:<referral id>/<original MessageId>` (one per update message);
* `referral-rejected:<idempotency key>/<original MessageId>` and the same for `referral-failed`:
  the MessageId part keeps a corrected resend of a rejected message from being swallowed as a
  duplicate of the first rejection.

The pydantic models below are the contract (they generate `schemas/`); `to_outbound` writes the
wire form with the CloudEvents SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.errors import FieldError
from shared.names import (
    PROP_DIAGNOSTIC_ID,
    PROP_EXTERNAL_REFERENCE_ID,
    PROP_REFERRAL_TYPE,
    PROP_TRACEPARENT,
    REFERRAL_CONNECTED,
    REFERRAL_CREATED,
    REFERRAL_FAILED,
    REFERRAL_REJECTED,
    REFERRAL_UPDATED,
)

EVENT_SOURCE_PREFIX: Final = "/referral-relay"

Stage = Literal["validation", "create", "connect", "update"]


_SUPERSEDES: Final = (
    "The id of an earlier referral-failed event for this key that this success replaces (that "
    "message gave up; a later one for the same key succeeded): this event is the final outcome."
)


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    idempotencyKey: str = Field(description="externalReferenceId, else the inbound MessageId.")
    externalReferenceId: str | None = None


class ReferralCreatedData(_Data):
    referralId: str
    engagementId: str
    referralType: str = Field(description="Independent or Shared")
    status: str | None = None
    substatus: str | None = None
    messageId: str = Field(description="MessageId of the inbound message")
    engagementGiven: bool | None = Field(
        default=None,
        description=(
            "True when the inbound message named an existing engagement (engagementId): "
            "Microsoft's referral may already be on it, so connect looks before creating."
        ),
    )
    supersedes: str | None = Field(default=None, description=_SUPERSEDES)


class ReferralConnectedData(_Data):
    referralId: str = Field(description="Our (the partner's) referral")
    connectedReferralId: str = Field(description="The connected referral addressed to Microsoft")
    engagementId: str
    adopted: bool = Field(
        description="True when the connected referral already existed and was adopted"
    )
    supersedes: str | None = Field(default=None, description=_SUPERSEDES)


class ReferralRejectedData(_Data):
    messageId: str
    stage: Stage
    errors: Annotated[list[FieldError], Field(min_length=1)]
    httpStatus: int | None = None
    partnerRequestId: str | None = None


class ReferralFailedData(_Data):
    messageId: str
    stage: Stage
    attempts: int
    errorCode: str = Field(description="Last transient error, e.g. 'throttled', 'unavailable'")
    httpStatus: int | None = None
    partnerRequestId: str | None = None
    referralMayExist: bool = Field(
        default=False,
        description=(
            "True when the relay may have sent a POST for this referral (the connected "
            "Microsoft referral when stage is 'connect') and found no result afterwards: "
            "Partner Center may hold it. Do not create it by hand: replay the dead-lettered "
            "message with `referral-relay dlq replay --as-new`, which looks it up before "
            "posting again. False: no POST was attempted while handling this message."
        ),
    )


class ReferralUpdatedData(_Data):
    referralId: str
    messageId: str = Field(description="MessageId of the inbound update message")
    result: Literal["applied", "unchanged", "stale"] = Field(
        description="applied: the referral was patched; unchanged: it already held every value "
        "(a repeat, or nothing new), nothing was sent; stale: a later CRM change was applied "
        "already (sourceUpdatedAt), nothing was sent."
    )
    changedPaths: list[str] = Field(description="JSON Pointers the PATCH changed (applied only)")
    status: str | None = Field(default=None, description="The referral's status afterwards")
    substatus: str | None = Field(default=None, description="Its substatus afterwards")
    sourceUpdatedAt: str | None = None


DataT = TypeVar("DataT", bound=_Data)


class CloudEvent(BaseModel, Generic[DataT]):
    """CloudEvents 1.0 structured-mode envelope."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str
    time: datetime
    subject: str = Field(description="The idempotency key")
    datacontenttype: Literal["application/json"] = "application/json"
    data: DataT


class ReferralCreatedEvent(CloudEvent[ReferralCreatedData]):
    type: Literal["referral-created"] = "referral-created"


class ReferralConnectedEvent(CloudEvent[ReferralConnectedData]):
    type: Literal["referral-connected"] = "referral-connected"


class ReferralRejectedEvent(CloudEvent[ReferralRejectedData]):
    type: Literal["referral-rejected"] = "referral-rejected"


class ReferralFailedEvent(CloudEvent[ReferralFailedData]):
    type: Literal["referral-failed"] = "referral-failed"


class ReferralUpdatedEvent(CloudEvent[ReferralUpdatedData]):
    type: Literal["referral-updated"] = "referral-updated"


EVENT_MODELS: Final[dict[str, type[CloudEvent[Any]]]] = {
    REFERRAL_CREATED: ReferralCreatedEvent,
    REFERRAL_CONNECTED: ReferralConnectedEvent,
    REFERRAL_REJECTED: ReferralRejectedEvent,
    REFERRAL_FAILED: ReferralFailedEvent,
    REFERRAL_UPDATED: ReferralUpdatedEvent,
}


@dataclass(frozen=True, slots=True)
class OutboundEvent:
    """One event as the publisher sends it: body plus the Service Bus message properties."""

    event_id: str  # also the MessageId (duplicate detection)
    type: str  # also the Subject (the connect-referral correlation filter reads it)
    subject: str
    correlation_id: str
    body: bytes
    application_properties: dict[str, str] = field(default_factory=dict)

    def data(self) -> dict[str, Any]:
        import json

        value: dict[str, Any] = json.loads(self.body)["data"]
        return value


def event_id(event_type: str, referral_id_or_key: str) -> str:
    return f"{event_type}:{referral_id_or_key}"


def to_outbound(
    event: CloudEvent[Any],
    *,
    correlation_id: str,
    referral_type: str | None = None,
    traceparent: str | None = None,
) -> OutboundEvent:
    """Write the structured-mode JSON with the CloudEvents SDK and derive the message properties.

    `traceparent` / `Diagnostic-Id` carry the *current* span's context when telemetry is on (so
    the consumer's span is a child of the publishing invocation); `traceparent` — the inbound
    message's — is the fallback that keeps the trace id when telemetry is off.
    """
    from cloudevents.core.formats.json import JSONFormat
    from cloudevents.core.v1.event import CloudEvent as SdkCloudEvent

    attributes = event.model_dump(mode="json", exclude={"data"})
    attributes["time"] = event.time
    body = JSONFormat().write(SdkCloudEvent(attributes, event.data.model_dump(mode="json")))
    props: dict[str, str] = {}
    if referral_type:
        props[PROP_REFERRAL_TYPE] = referral_type
    if event.data.externalReferenceId:
        props[PROP_EXTERNAL_REFERENCE_ID] = event.data.externalReferenceId
    if traceparent:
        props[PROP_TRACEPARENT] = traceparent
        props[PROP_DIAGNOSTIC_ID] = traceparent
    return OutboundEvent(
        event_id=event.id,
        type=event.type,
        subject=event.subject,
        correlation_id=correlation_id,
        body=body,
        application_properties=props,
    )


def now() -> datetime:
    return datetime.now(UTC)
