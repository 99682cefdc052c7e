"""The exactly-once protocol of both functions (design §4), in one place.

The Partner API has no idempotency token, so exactly-once is built from a ledger claim per key
and look-ups. The protocol holds the lifecycle; each function supplies a `Flow` with only what
differs (the key, how to look the referral up, the body, what to publish, how to come back
later) — as Powertools' idempotency handler holds the lifecycle and its backends only store.

One invocation:

1. Claim the key; the claim write also marks `posted` (the POST follows). The ledger answers:
   completed → publish that success again (same event id) · failed for this lineage → publish
   that give-up again, then dead-letter · another body under the key → `referral-rejected`
   (`key_reused_with_different_body`) · a live holder → wait for it, spending no attempt.
2. If a POST may already have happened under the key (the record we took over says `posted`),
   look the referral up, matching the key exactly. Found → record it. Empty → the look-ups are
   paced: each waits its delay (`relookup_delays_seconds`, ledger time) after the previous one
   or the POST, and only when every one came back empty is it POSTed again. A first claim of a
   key the ledger has never seen POSTs at once (1 call), unless the flow asks for a look-up
   (connect, when the publisher named the engagement) or `lookup_on_first_claim` is set.
3. POST, only with at least one request timeout (plus the clock margin) left on the claim —
   renewing it first if need be — and with the client's deadline before the claim ends.
4. Record `completed`, publish the success, complete the message.

After an ambiguous POST (no answer, a 5xx, 202/409) nothing is POSTed again in the same
invocation: the claim is released with the first look-up due after `relookup_delays_seconds[0]`
and the message comes back later. Every time is the ledger's (`Ledger.now()`), never this
instance's wall clock, which may be minutes off.

Attempts: a failure that is worth retrying (transient, configuration, a failed look-up, a lost
claim) spends one; waiting for a holder or for the next paced look-up spends none. Past
`max_attempts` the holder writes `failed` to the ledger under its claim and only then publishes
`referral-failed`: a give-up that lost its claim publishes nothing, and the success of whoever
took over is the one final outcome. A later success of the same key after a give-up (a replay
or a resend) names the give-up it replaces (`supersedes`).

Coming back later is the flow's: create schedules a copy of the message on the queue (waits
spend no attempt); connect, whose subscription cannot take scheduled copies, waits inside the
invocation up to `max_wait_in_invocation_seconds` and otherwise abandons the message (Service
Bus redelivers it at once and counts a delivery, which is its attempt counter).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from shared.contracts.envelope import MessageMeta
from shared.contracts.errors import FieldError
from shared.contracts.events import Stage
from shared.contracts.referral import Referral
from shared.handlers.common import (
    AWAITING_LOOKUP,
    CLAIM_BUSY,
    CLAIM_LOST,
    DeadLetterRequested,
    HandlerDeps,
    LeaseTooShort,
    LookupFailed,
    Outcome,
    RetryLater,
    error_code,
    is_transient,
    new_owner,
    refusal_errors,
    retry_after,
)
from shared.handlers.giving_up import failed_event_id, publish_failed, reject
from shared.ledger.port import (
    AlreadyCompleted,
    AlreadyFailed,
    Busy,
    Claimed,
    KeyReused,
    LedgerConflict,
    Record,
    Scope,
    State,
)
from shared.ledger.rules import SUPERSEDES
from shared.partner_api.errors import PermanentError, TransientError

KEY_REUSED: Final = "key_reused_with_different_body"
ATTEMPTS_EXHAUSTED: Final = "attempts_exhausted"
ATTEMPTS: Final = "attempts"  # ledger result key: attempts made when it gave up
ANNOUNCED: Final = "announced"  # ledger result key: the give-up's event went out
# Waits for another delivery's claim (create: scheduled copies) before a wait counts as an
# attempt: far more than a holder's lineage can take (it releases between its own attempts).
MAX_WAITS: Final = 50


def body_digest(body: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a body (sorted keys, no spaces): what the ledger keeps
    to tell a reused key from a repeat, instead of the body."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


SuccessKind = Literal["created", "connected"]


class Flow(Protocol):
    """What one function supplies to the protocol."""

    # Read-only members (a class attribute, an instance attribute or a property will do).
    @property
    def scope(self) -> Scope: ...
    @property
    def stage(self) -> Stage: ...
    @property
    def source(self) -> str: ...
    @property
    def success(self) -> SuccessKind: ...
    @property
    def key(self) -> str:
        """The ledger key."""
        ...

    @property
    def subject(self) -> str:
        """The idempotency key the events carry."""
        ...

    @property
    def external_reference_id(self) -> str | None: ...
    @property
    def body_hash(self) -> str | None:
        """The body's digest; None: the key alone identifies the work (connect)."""
        ...

    @property
    def attempt(self) -> int:
        """This invocation's attempt number, from 1."""
        ...

    @property
    def waits(self) -> int:
        """Waits this message has made so far (create's copies count them)."""
        ...

    @property
    def waits_in_process(self) -> bool:
        """connect: no scheduled copies, so it sleeps inside the invocation."""
        ...

    def looks_up_first(self) -> bool:
        """Look up even on a first claim (something other than us may have created it)."""
        ...

    async def find(self, deadline: float) -> Referral | None:
        """The referral already made for this key, matched exactly, or None."""
        ...

    async def post_body(self, deadline: float) -> Mapping[str, Any]: ...

    def recorded(
        self, referral: Referral, *, adopted: bool
    ) -> tuple[str, str | None, dict[str, str]]:
        """(referral id, engagement id, result) for the ledger's `completed` record."""
        ...

    async def publish_success(self, record: Record, *, kind: str) -> Outcome:
        """Publish the success event of a completed record (`kind`: success or duplicate)."""
        ...

    async def come_back(self, delay: float, *, spend_attempt: bool, reason: str) -> Outcome:
        """End this invocation so that the message returns in about `delay` seconds."""
        ...


@dataclass(frozen=True, slots=True)
class _Pause:
    delay: float
    reason: str


class _AmbiguousPost(Exception):
    def __init__(self, cause: TransientError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class ExactlyOnce:
    """Runs one invocation of the protocol for one flow."""

    record: Record  # our claim once we hold it; replaced by every ledger write (new ETag)

    def __init__(self, deps: HandlerDeps, flow: Flow, meta: MessageMeta) -> None:
        self.deps = deps
        self.config = deps.config
        self.ledger = deps.ledger
        self.flow = flow
        self.meta = meta
        self.waited = 0.0  # seconds waited inside this invocation (connect)

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> Outcome:
        flow = self.flow
        while True:
            claim = await self.ledger.claim(
                flow.scope,
                flow.key,
                owner=new_owner(),
                lineage=self.meta.original_message_id,
                ttl=self.config.claim_ttl_seconds,
                body_hash=flow.body_hash,
                posting=True,
            )
            if isinstance(claim, AlreadyCompleted):
                return await self._success(claim.record)
            if isinstance(claim, AlreadyFailed):
                return await self._failed_already(claim.record)
            if isinstance(claim, KeyReused):
                return await self._reject_reuse(claim.record)
            if isinstance(claim, Busy):
                step: Outcome | _Pause = self._wait_for(claim)
            else:
                self.record = claim.record
                await self.deps.checkpoint("claimed")
                step = await self._attempt(claim)
            if isinstance(step, Outcome):
                return step
            outcome = await self._pause(step)
            if outcome is not None:
                return outcome

    async def _attempt(self, claim: Claimed) -> Outcome | _Pause:
        config, flow = self.config, self.flow
        if flow.attempt > config.max_attempts:
            # This lineage is past its attempts (it crashed on its last one, or gave up while
            # another delivery held the key): give up under the claim, with no more calls.
            if not claim.may_have_posted:
                await self._release(posted=False)  # our claim's mark: nothing was sent
            return await self._give_up(ATTEMPTS_EXHAUSTED, None)
        if self.record.not_before > self.ledger.now():
            await self._release()
            return _Pause(self.record.not_before - self.ledger.now(), AWAITING_LOOKUP)
        deadline = self.deps.clock.monotonic() + config.retry_budget_seconds
        try:
            found = await self._find(deadline) if self._looks_up(claim) else None
            if found is None and claim.may_have_posted:
                lookups = self.record.lookups + 1
                if lookups < len(config.relookup_delays_seconds):
                    delay = config.relookup_delays_seconds[lookups]
                    await self._release(lookups=lookups, not_before=self.ledger.now() + delay)
                    return _Pause(delay, AWAITING_LOOKUP)
                # Every paced look-up came back empty: it may be POSTed again.
            if found is None:
                referral = await self._post(deadline, renew=claim.may_have_posted)
        except _AmbiguousPost as ambiguous:
            return await self._after_ambiguous(ambiguous.cause)
        except PermanentError as refused:
            return await self._refused(refused)
        except LedgerConflict:
            raise RetryLater(CLAIM_LOST, self._outcome("rescheduled", CLAIM_LOST)) from None
        except Exception as exc:
            if not is_transient(exc):
                raise
            # Nothing of ours took effect (not sent, or refused before it was processed): the
            # record is as posted as it was before we claimed it.
            return await self._retry_later(exc, posted=claim.may_have_posted)
        if found is not None:
            return await self._finish(found, adopted=True)
        return await self._finish(referral, adopted=False)

    async def _post(self, deadline: float, *, renew: bool) -> Referral:
        body = await self.flow.post_body(deadline)
        post_deadline = await self._lease_for_post(deadline, renew=renew)
        try:
            return await self.deps.api.create_referral(
                body,
                correlation_id=self.meta.correlation_id,
                deadline=post_deadline,
                retry_ambiguous=False,
            )
        except TransientError as exc:
            if exc.ambiguous:
                raise _AmbiguousPost(exc) from exc
            raise

    def _looks_up(self, claim: Claimed) -> bool:
        if claim.may_have_posted or self.flow.looks_up_first():
            return True
        return self.config.lookup_on_first_claim and claim.previous is None

    async def _find(self, deadline: float) -> Referral | None:
        try:
            return await self.flow.find(deadline)
        except PermanentError as exc:  # a refused filter says nothing about the referral
            raise LookupFailed(f"look-up failed: {error_code(exc)}") from exc

    async def _lease_for_post(self, deadline: float, *, renew: bool) -> float:
        """Make sure the claim outlives one request, and return the POST's deadline: never
        past the claim (so no retry of the client runs on a claim another worker may hold)."""
        config = self.config
        needed = config.request_timeout_seconds + config.clock_margin_seconds
        if renew or self._lease_left() < needed:
            self.record = await self.ledger.mark_posted(self.record, ttl=config.claim_ttl_seconds)
        left = self._lease_left()
        if left < needed:
            raise LeaseTooShort("the claim would end before one request could")
        return min(deadline, self.deps.clock.monotonic() + left - config.clock_margin_seconds)

    def _lease_left(self) -> float:
        return self.record.expires_at - self.ledger.now() - self.config.clock_margin_seconds

    # -- endings ------------------------------------------------------------------------------

    async def _finish(self, referral: Referral, *, adopted: bool) -> Outcome:
        await self.deps.checkpoint("posted")
        referral_id, engagement_id, result = self.flow.recorded(referral, adopted=adopted)
        if SUPERSEDES in self.record.result:
            result[SUPERSEDES] = self.record.result[SUPERSEDES]
        try:
            record = await self.ledger.complete(
                self.record, referral_id=referral_id, engagement_id=engagement_id, result=result
            )
        except LedgerConflict:
            # Taken over while we worked: the new holder finds this referral and records it.
            raise RetryLater(CLAIM_LOST, self._outcome("rescheduled", CLAIM_LOST)) from None
        await self.deps.checkpoint("recorded")
        outcome = await self._success(record)
        await self.deps.checkpoint("published")
        return outcome

    async def _success(self, record: Record) -> Outcome:
        ours = record.lineage == self.meta.original_message_id
        return await self.flow.publish_success(
            record, kind=self.flow.success if ours else "duplicate"
        )

    async def _refused(self, refused: PermanentError) -> Outcome:
        """A permanent refusal of the body: nothing was created for it, so the key is free
        (a corrected resend may use it) and the message is rejected."""
        await self._release(posted=False, lookups=0, not_before=0.0)
        return await self._reject(refusal_errors(refused), refused)

    async def _reject_reuse(self, record: Record) -> Outcome:
        path = "/externalReferenceId" if self.flow.external_reference_id else ""
        problem = FieldError(
            path=path,
            code=KEY_REUSED,
            message=(
                f"this idempotency key was already used by message {record.lineage} with a "
                "different body; send that body again, or use a new externalReferenceId"
            ),
        )
        return await self._reject((problem,), None)

    async def _reject(
        self, errors: Sequence[FieldError], refused: PermanentError | None
    ) -> Outcome:
        return await reject(
            self.deps,
            self.meta,
            key=self.flow.subject,
            source=self.flow.source,
            stage=self.flow.stage,
            errors=errors,
            refused=refused,
            external_reference_id=self.flow.external_reference_id,
        )

    async def _after_ambiguous(self, cause: TransientError) -> Outcome | _Pause:
        """It may exist now, or later (a commit can land after the answer was lost): no second
        POST in this invocation; the first look-up is due after the first delay."""
        first = self.config.relookup_delays_seconds[0]
        return await self._retry_later(
            cause, posted=True, lookups=0, not_before=self.ledger.now() + first, at_least=first
        )

    async def _retry_later(
        self,
        exc: BaseException,
        *,
        posted: bool | None = None,
        lookups: int | None = None,
        not_before: float | None = None,
        at_least: float = 0.0,
    ) -> Outcome:
        """A failed attempt: give up past the attempts, else release and come back later."""
        config, flow = self.config, self.flow
        code = error_code(exc)
        if flow.attempt >= config.max_attempts:
            if posted is False:
                await self._release(posted=False)  # so the give-up says nothing was posted
            return await self._give_up(code, exc)
        await self._release(posted=posted, lookups=lookups, not_before=not_before)
        backoff = config.reschedule_base_seconds * 2 ** (flow.attempt - 1)
        delay = max(retry_after(exc) or 0.0, min(backoff, config.reschedule_max_seconds), at_least)
        return await flow.come_back(delay, spend_attempt=True, reason=code)

    async def _give_up(self, code: str, cause: BaseException | None) -> Outcome:
        """Make the give-up final in the ledger under our claim, then publish it. If the claim
        was lost meanwhile, publish nothing: whoever holds the key now decides its outcome."""
        if self.record.state is not State.FAILED:
            try:
                self.record = await self.ledger.fail(
                    self.record, error_code=code, result={ATTEMPTS: str(self.flow.attempt)}
                )
            except LedgerConflict:
                raise RetryLater(CLAIM_LOST, self._outcome("rescheduled", CLAIM_LOST)) from None
        await self._announce(self.record, code=code, cause=cause)
        raise DeadLetterRequested(
            f"gave up after {self.flow.attempt} attempts ({code})", self._outcome("failed", code)
        )

    async def _announce(self, record: Record, *, code: str, cause: BaseException | None) -> None:
        """Publish the give-up of a `failed` record, then note in it that it went out, so the
        redeliveries until the dead-letter queue do not publish (and count) it again."""
        await self._publish_failed(record, code=code, cause=cause)
        with suppress(LedgerConflict):
            await self.ledger.fail(record, error_code=code, result={ANNOUNCED: "true"})

    async def _failed_already(self, record: Record) -> Outcome:
        """This lineage gave up before. If we died between the ledger and the send, publish
        the give-up now (same id: a repeat would be dropped by duplicate detection)."""
        code = record.error_code or ATTEMPTS_EXHAUSTED
        if record.result.get(ANNOUNCED) != "true":
            await self._announce(record, code=code, cause=None)
        raise DeadLetterRequested(
            "this message already gave up (referral-failed was sent)",
            self._outcome("failed", code),
        )

    async def _publish_failed(
        self, record: Record | None, *, code: str, cause: BaseException | None
    ) -> None:
        attempts = record.result.get(ATTEMPTS) if record is not None else None
        await publish_failed(
            self.deps,
            self.meta,
            key=self.flow.subject,
            ledger_key=self.flow.key,
            source=self.flow.source,
            stage=self.flow.stage,
            attempts=int(attempts) if attempts and attempts.isdigit() else self.flow.attempt,
            code=code,
            referral_may_exist=record is not None and record.posted,
            cause=cause,
            external_reference_id=self.flow.external_reference_id,
        )

    # -- waiting ------------------------------------------------------------------------------

    def _wait_for(self, busy: Busy) -> _Pause:
        """Another delivery holds the key (a resend, a crashed worker's claim, a lost lock):
        come back when its claim lapses, on the ledger's clock."""
        if busy.record is None:  # lost a race: look again soon
            return _Pause(self.config.clock_margin_seconds, CLAIM_BUSY)
        lapses_in = busy.record.expires_at - self.ledger.now()
        return _Pause(max(lapses_in, 0.0) + self.config.clock_margin_seconds, CLAIM_BUSY)

    async def _pause(self, pause: _Pause) -> Outcome | None:
        """Wait inside the invocation (connect) and return None to go round again, or let the
        flow end the invocation so the message comes back later. Waiting spends no attempt;
        only a holder that outlasts every wait makes the waiter count one, and give up past
        its attempts."""
        config, flow = self.config, self.flow
        busy = pause.reason == CLAIM_BUSY
        if flow.waits_in_process:
            step = min(pause.delay, config.holder_poll_seconds) if busy else pause.delay
            if self.waited + step <= config.max_wait_in_invocation_seconds:
                await self.deps.clock.sleep(step)
                self.waited += step
                return None
            if busy and flow.attempt >= config.max_attempts:
                return await self._give_up_without_claim()
            return await flow.come_back(pause.delay, spend_attempt=False, reason=pause.reason)
        if busy and flow.waits >= MAX_WAITS:
            if flow.attempt >= config.max_attempts:
                return await self._give_up_without_claim()
            return await flow.come_back(pause.delay, spend_attempt=True, reason=CLAIM_BUSY)
        return await flow.come_back(pause.delay, spend_attempt=False, reason=pause.reason)

    async def _give_up_without_claim(self) -> Outcome:
        """Past the attempts while another delivery holds the key: report what the ledger says
        (its success, or its give-up), and give up only when it says neither."""
        record = await self.ledger.get(self.flow.scope, self.flow.key)
        if record is not None and record.state is State.COMPLETED:
            return await self._success(record)
        if record is not None and record.state is State.FAILED:
            code = record.error_code or ATTEMPTS_EXHAUSTED
            await self._publish_failed(record, code=code, cause=None)
        else:
            await self._publish_failed(record, code=CLAIM_BUSY, cause=None)
            code = CLAIM_BUSY
        raise DeadLetterRequested(
            f"gave up after {self.flow.attempt} attempts ({code})", self._outcome("failed", code)
        )

    async def _release(
        self,
        *,
        posted: bool | None = None,
        lookups: int | None = None,
        not_before: float | None = None,
    ) -> None:
        with suppress(LedgerConflict):  # taken over meanwhile: the new holder's claim stands
            self.record = await self.ledger.release(
                self.record, posted=posted, lookups=lookups, not_before=not_before
            )

    def _outcome(self, kind: Literal["rescheduled", "failed"], code: str | None) -> Outcome:
        return Outcome(kind=kind, key=self.flow.subject, error_code=code, attempt=self.flow.attempt)


def superseded(record: Record, ledger_key: str) -> str | None:
    """The `referral-failed` id a success recorded in `record` replaces, if any."""
    lineage = record.result.get(SUPERSEDES)
    return failed_event_id(ledger_key, lineage) if lineage else None
