"""update_referral: one update message from the CRM → at most one PATCH → one event.

Validate (invalid → `referral-rejected` stage `validation`), then:

1. Resolve the referral: `referralId` as given; else the ledger's record of the create under
   the `externalReferenceId` (its referral id), else a look-up by `externalReferenceId`, matched
   exactly. Not found (yet: the create may still be on its way) → come back later.
2. Stale check: with `sourceUpdatedAt`, the referral's mark (`Marks`, scope `update-applied`)
   is advanced to it first; a mark already later → skipped as `stale`. Advancing *before* the
   PATCH fences an older update racing this one: it reads the later mark, before its PATCH and
   again after each re-read, and stops.
3. GET the referral (its eTag), compute the JSON Patch against it (`patching.py`): empty →
   `unchanged`, no call; refused by the status table → `referral-rejected` stage `update`.
4. PATCH with If-Match. A 412 (it changed since the GET) → read again and compute again, up to
   `MAX_REREADS` times in the invocation, then come back later.

No ledger claim: an update is idempotent by construction (a patch computed from the current
state, applied only to that state), so a repeat or a concurrent delivery ends `unchanged` or is
fenced by the eTag (docs/decisions.md). Retries, reschedules and give-ups follow create's rules:
a transient or configuration failure spends an attempt and schedules a copy on
`referral-updates`; past `max_attempts` → `referral-failed` and the dead-letter queue.
"""

from __future__ import annotations

from typing import Final, Literal

from shared.contracts.envelope import InboundMessage, InvalidMessage
from shared.contracts.errors import FieldError
from shared.contracts.events import (
    ReferralUpdatedData,
    ReferralUpdatedEvent,
    event_id,
    now,
    to_outbound,
)
from shared.contracts.referral import Referral
from shared.contracts.update import UpdateCommand, parse_update
from shared.handlers.common import (
    DeadLetterRequested,
    HandlerDeps,
    LookupFailed,
    Outcome,
    Postponed,
    error_code,
    is_transient,
    marks_of,
    refusal_errors,
    retry_after,
)
from shared.handlers.giving_up import keyless_subject, publish_failed, reject
from shared.handlers.patching import Patch, compute_patch
from shared.handlers.rescheduling import schedule_copy
from shared.ledger.port import Scope, State
from shared.names import REFERRAL_UPDATED, UPDATES_QUEUE
from shared.partner_api.errors import PermanentError, PreconditionFailed
from shared.partner_api.odata import eq

SOURCE: Final = "/referral-relay/update_referral"
MARK_SCOPE: Final = "update-applied"  # Marks: the last sourceUpdatedAt applied, per referral id
GAVE_UP_SCOPE: Final = "update-gave-up"  # Marks: lineages whose referral-failed went out
MAX_REREADS: Final = 3  # 412 → read and compute again, at most this often per invocation
AMBIGUOUS_REFERENCE: Final = "ambiguous_reference"
ATTEMPTS_EXHAUSTED: Final = "attempts_exhausted"

Result = Literal["applied", "unchanged", "stale"]


class ReferralNotFound(Postponed):
    """No referral has the externalReferenceId yet: its create may still be on its way."""

    CODE = "referral_not_found"


class StillChanging(Postponed):
    """Every re-read found the referral changed again before our PATCH (412 each time)."""

    CODE = "precondition_failed"


async def handle_update(message: InboundMessage, deps: HandlerDeps) -> Outcome:
    try:
        command = parse_update(message)
    except InvalidMessage as invalid:
        key = invalid.idempotency_key
        return await reject(
            deps,
            invalid.meta,
            key=key,
            source=SOURCE,
            stage="validation",
            errors=invalid.errors,
            subject=None if key else keyless_subject(message.get_body()),
        )
    return await UpdateRun(deps, command, message).run()


class _Refused(Exception):
    """The update can never apply as sent (not an API refusal: one of ours)."""

    def __init__(self, error: FieldError) -> None:
        super().__init__(error.code)
        self.error = error


_AMBIGUOUS: Final = FieldError(
    path="/externalReferenceId",
    code=AMBIGUOUS_REFERENCE,
    message="more than one referral has this externalReferenceId: name it by referralId",
)


class UpdateRun:
    def __init__(self, deps: HandlerDeps, command: UpdateCommand, message: InboundMessage):
        self.deps = deps
        self.marks = marks_of(deps)
        self.config = deps.config
        self.command = command
        self.update = command.update
        self.message = message
        self.meta = command.meta
        self.key = command.reference
        self.attempt = self.meta.attempt + self.meta.delivery_count

    async def run(self) -> Outcome:
        if self.attempt > self.config.max_attempts:
            # This lineage gave up before: no more calls, and its referral-failed only if it
            # may not have gone out (the worker died between the two).
            return await self._give_up(ATTEMPTS_EXHAUSTED, None)
        deadline = self.deps.clock.monotonic() + self.config.retry_budget_seconds
        try:
            referral_id = await self._resolve(deadline)
            return await self._apply(referral_id, deadline)
        except PermanentError as refused:
            return await self._reject(refusal_errors(refused), refused)
        except _Refused as refused:
            return await self._reject((refused.error,), None)
        except Exception as exc:
            if not is_transient(exc):
                raise  # ledger, marks, publisher: the host abandons, Service Bus redelivers
            return await self._retry_later(exc)

    # -- resolving --------------------------------------------------------------------------

    async def _resolve(self, deadline: float) -> str:
        if self.update.referralId:
            return self.update.referralId
        key = self.update.externalReferenceId or ""
        record = await self.deps.ledger.get(Scope.CREATE, key)
        if record is not None and record.state is State.COMPLETED and record.referral_id:
            return record.referral_id
        try:
            found = [
                referral
                async for referral in self.deps.api.list_referrals(
                    filter=eq("externalReferenceId", key).render(),
                    correlation_id=self.meta.correlation_id,
                    deadline=deadline,
                )
                # The filter is a hint (it may lag, fold case or be ignored): exact matches only.
                if referral.id and referral.externalReferenceId == key
            ]
        except PermanentError as exc:
            raise LookupFailed(f"look-up failed: {error_code(exc)}") from exc
        if not found:
            raise ReferralNotFound("no referral has this externalReferenceId yet")
        ours = [r for r in found if not r.targets_microsoft()] or found
        if len({r.id for r in ours}) > 1:
            raise _Refused(_AMBIGUOUS)
        return ours[0].id or ""

    # -- applying ---------------------------------------------------------------------------

    async def _apply(self, referral_id: str, deadline: float) -> Outcome:
        mark = self.command.source_updated_at
        if mark is not None and not await self._fence(referral_id, mark):
            return await self._publish(referral_id, "stale", None, None)
        for _ in range(MAX_REREADS):
            current = await self.deps.api.get_referral(
                referral_id, correlation_id=self.meta.correlation_id, deadline=deadline
            )
            if mark is not None and await self._newer_applied(referral_id, mark):
                return await self._publish(referral_id, "stale", None, current)
            patch = compute_patch(current.to_wire(), self.update)
            if patch.problems:
                return await self._reject(patch.problems, None)
            if not patch.operations:
                return await self._publish(referral_id, "unchanged", None, current)
            try:
                await self.deps.api.patch_referral(
                    referral_id,
                    patch.operations,
                    etag=current.eTag,
                    return_representation=False,
                    correlation_id=self.meta.correlation_id,
                    deadline=deadline,
                )
            except PreconditionFailed:
                continue  # changed since our GET: read it again, compute again
            await self.deps.checkpoint("patched")
            return await self._publish(referral_id, "applied", patch, current)
        raise StillChanging(f"the referral changed before each of {MAX_REREADS} PATCHes")

    async def _fence(self, referral_id: str, mark: str) -> bool:
        """Advance the referral's mark to this update's time; False when a later one is there
        (equal is this update again, or one made in the same instant: not stale)."""
        if await self.marks.advance(MARK_SCOPE, referral_id, mark):
            return True
        return not await self._newer_applied(referral_id, mark)

    async def _newer_applied(self, referral_id: str, mark: str) -> bool:
        stored = await self.marks.get(MARK_SCOPE, referral_id)
        return stored is not None and stored > mark

    # -- endings ----------------------------------------------------------------------------

    async def _publish(
        self, referral_id: str, result: Result, patch: Patch | None, current: Referral | None
    ) -> Outcome:
        if patch is not None:
            status, substatus = patch.status, patch.substatus
        else:
            status = current.status if current is not None else None
            substatus = current.substatus if current is not None else None
        event = ReferralUpdatedEvent(
            id=event_id(REFERRAL_UPDATED, f"{referral_id}/{self.meta.original_message_id}"),
            source=SOURCE,
            time=now(),
            subject=self.key,
            data=ReferralUpdatedData(
                idempotencyKey=self.key,
                externalReferenceId=self.update.externalReferenceId,
                referralId=referral_id,
                messageId=self.meta.original_message_id,
                result=result,
                changedPaths=list(patch.paths) if patch is not None else [],
                status=status,
                substatus=substatus,
                sourceUpdatedAt=self.update.sourceUpdatedAt,
            ),
        )
        await self.deps.publisher.publish(
            to_outbound(
                event, correlation_id=self.meta.correlation_id, traceparent=self.meta.traceparent
            )
        )
        kind: Literal["updated", "unchanged", "stale"] = (
            "updated" if result == "applied" else result
        )
        return Outcome(kind=kind, key=self.key, referral_id=referral_id, attempt=self.attempt)

    async def _reject(
        self, errors: tuple[FieldError, ...] | list[FieldError], refused: PermanentError | None
    ) -> Outcome:
        return await reject(
            self.deps,
            self.meta,
            key=self.key,
            source=SOURCE,
            stage="update",
            errors=errors,
            refused=refused,
            external_reference_id=self.update.externalReferenceId,
        )

    async def _retry_later(self, exc: BaseException) -> Outcome:
        config = self.config
        code = error_code(exc)
        if self.attempt >= config.max_attempts:
            return await self._give_up(code, exc)
        backoff = config.reschedule_base_seconds * 2 ** (self.attempt - 1)
        delay = max(retry_after(exc) or 0.0, min(backoff, config.reschedule_max_seconds))
        await schedule_copy(
            self.deps,
            self.message,
            self.meta,
            queue=UPDATES_QUEUE,
            attempts=self.attempt,
            waits=0,
            delay=delay,
        )
        return Outcome(kind="rescheduled", key=self.key, error_code=code, attempt=self.attempt)

    async def _give_up(self, code: str, cause: BaseException | None) -> Outcome:
        """`referral-failed`, noted in the marks once sent (its redeliveries on the way to the
        dead-letter queue do not publish it again), then to the dead-letter queue."""
        lineage = self.meta.original_message_id
        if await self.marks.get(GAVE_UP_SCOPE, lineage) is None:
            await self._publish_failed(code, cause)
            await self.marks.advance(GAVE_UP_SCOPE, lineage, "announced")
        raise DeadLetterRequested(
            f"gave up after {self.attempt} attempts ({code})",
            Outcome(kind="failed", key=self.key, error_code=code, attempt=self.attempt),
        )

    async def _publish_failed(self, code: str, cause: BaseException | None) -> None:
        await publish_failed(
            self.deps,
            self.meta,
            key=self.key,
            ledger_key=f"update/{self.key}",
            source=SOURCE,
            stage="update",
            attempts=min(self.attempt, self.config.max_attempts),
            code=code,
            referral_may_exist=False,
            cause=cause,
            external_reference_id=self.update.externalReferenceId,
        )
