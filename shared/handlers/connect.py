"""connect_referral: a `referral-created` event of a Shared referral → the connected referral
addressed to Microsoft (fact sheet §7), once per engagement.

Runs the exactly-once protocol (`shared.handlers.exactly_once`) with what is connect's own:

* the key: the engagement id;
* the body: ours, read back by id (events and the ledger carry no customer data), projected
  tolerantly onto what a create request may carry — server-written empties, placeholders, nulls
  and read-only fields are dropped, never validated against the strict request contract: a
  co-sell must connect whenever ours was created. Reading ours back can only be retried, never
  refused;
* the look-up: `engagementId eq <id>`, and only a referral on exactly that engagement that
  targets Microsoft (and is not ours) counts. It runs when a POST may have happened under the
  key, or when the publisher named the engagement (Microsoft's may be on it already): a Shared
  referral on a new engagement costs three calls in all — create's POST, this GET and POST;
* the success: `referral-connected`;
* coming back later: a subscription cannot take scheduled copies without every other
  subscriber seeing them, so connect waits inside the invocation (for a live holder, or for the
  next paced look-up) up to `max_wait_in_invocation_seconds`, and past that abandons the
  message for redelivery. Its attempt counter is the delivery count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import ValidationError

from shared.contracts.envelope import InboundMessage, MessageMeta, read_meta
from shared.contracts.errors import FieldError
from shared.contracts.events import (
    ReferralConnectedData,
    ReferralConnectedEvent,
    ReferralCreatedData,
    ReferralCreatedEvent,
    Stage,
    event_id,
    now,
    to_outbound,
)
from shared.contracts.referral import MICROSOFT_TARGET, Referral
from shared.contracts.validation import project_onto_request
from shared.handlers.common import (
    HandlerDeps,
    Outcome,
    OutcomeKind,
    ReadFailed,
    RetryLater,
    error_code,
)
from shared.handlers.exactly_once import ExactlyOnce, SuccessKind, superseded
from shared.handlers.giving_up import reject
from shared.ledger.port import Record, Scope
from shared.names import REFERRAL_CONNECTED
from shared.partner_api.errors import PermanentError
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
    return await ExactlyOnce(deps, ConnectFlow(deps, meta, created), meta).run()


_NOT_EVENT: Final = "the message is not a referral-created CloudEvent"


class ConnectFlow:
    scope: Final = Scope.CONNECT
    stage: Final[Stage] = "connect"
    source: Final = SOURCE
    success: Final[SuccessKind] = "connected"
    waits_in_process: Final = True
    body_hash: Final = None  # the engagement alone says what to connect
    waits: Final = 0  # its waits happen inside the invocation

    def __init__(self, deps: HandlerDeps, meta: MessageMeta, created: ReferralCreatedData):
        self.deps = deps
        self.meta = meta
        self.created = created
        self.key = self.engagement = created.engagementId
        self.subject = created.idempotencyKey
        self.external_reference_id = created.externalReferenceId
        self.attempt = meta.delivery_count

    def looks_up_first(self) -> bool:
        # Unknown (an event from before the field existed) counts as named: look.
        return self.created.engagementGiven is not False

    async def find(self, deadline: float) -> Referral | None:
        async for referral in self.deps.api.list_referrals(
            filter=guid_eq("engagementId", self.engagement).render(),
            correlation_id=self.meta.correlation_id,
            deadline=deadline,
        ):
            if (
                referral.id
                and referral.id != self.created.referralId
                and _same_guid(referral.engagementId, self.engagement)
                and referral.targets_microsoft()
            ):
                return referral
        return None

    async def post_body(self, deadline: float) -> Mapping[str, Any]:
        try:
            ours = await self.deps.api.get_referral(
                self.created.referralId, correlation_id=self.meta.correlation_id, deadline=deadline
            )
        except PermanentError as exc:  # it was created: not readable *yet* (or not to us)
            raise ReadFailed(f"reading our referral failed: {error_code(exc)}") from exc
        wire = ours.to_wire()
        copied = {k: wire[k] for k in COPIED_FIELDS if wire.get(k) is not None}
        body: dict[str, Any] = project_onto_request(copied)
        body.update(type="Shared", engagementId=self.engagement, target=[dict(MICROSOFT_TARGET)])
        return body

    def recorded(
        self, referral: Referral, *, adopted: bool
    ) -> tuple[str, str | None, dict[str, str]]:
        return referral.id or "", self.engagement, {"adopted": "true" if adopted else "false"}

    async def publish_success(self, record: Record, *, kind: str) -> Outcome:
        connected_id = record.referral_id or ""
        event = ReferralConnectedEvent(
            id=event_id(REFERRAL_CONNECTED, connected_id),
            source=SOURCE,
            time=now(),
            subject=self.subject,
            data=ReferralConnectedData(
                idempotencyKey=self.subject,
                externalReferenceId=self.created.externalReferenceId,
                referralId=self.created.referralId,
                connectedReferralId=connected_id,
                engagementId=self.engagement,
                adopted=record.result.get("adopted") == "true",
                supersedes=superseded(record, self.engagement),
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
            key=self.subject,
            referral_id=self.created.referralId,
            engagement_id=self.engagement,
            connected_referral_id=connected_id,
            referral_type="Shared",
            attempt=self.attempt,
        )

    async def come_back(self, delay: float, *, spend_attempt: bool, reason: str) -> Outcome:
        """Abandon: Service Bus redelivers at once and counts a delivery either way."""
        raise RetryLater(reason, self._outcome("rescheduled", error_code=reason))

    def _outcome(self, kind: OutcomeKind, *, error_code: str | None) -> Outcome:
        return Outcome(
            kind=kind,
            key=self.subject,
            referral_id=self.created.referralId,
            engagement_id=self.engagement,
            referral_type="Shared",
            error_code=error_code,
            attempt=self.attempt,
        )


def _same_guid(value: str | None, engagement: str) -> bool:
    """GUIDs compare case-insensitively (Partner Center may print them in either case)."""
    return value is not None and value.strip("{}").lower() == engagement.strip("{}").lower()
