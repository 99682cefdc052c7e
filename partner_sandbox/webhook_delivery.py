"""Signed webhook deliveries: what Partner Center POSTs to a registered URL when a resource changes.

[docs] learn.microsoft.com partner-center/developer/partner-center-webhooks and
partner-center-webhook-events: a JSON body (`EventName`, `ResourceUri`, `ResourceName`,
`AuditUri`, `ResourceChangeUtcDate`), `Authorization: Signature <base64 RSA-SHA256 of the body>`
(or `x-ms-signature` when the registration set `signatureTokenToMsSignatureHeader`),
`X-MS-Certificate-Url`, `X-MS-Signature-Algorithm: rsa-sha256`; up to 10 attempts, then the
event goes to an offline queue and is not retried.

Deliveries run in a background task on the loop that notified them, one at a time in due order
(on the sandbox clock, which a chaos run warps), so the order a receiver sees is the order of the
changes unless a fault says otherwise: `webhook-delay` (late by up to S seconds, which reorders
too), `webhook-reorder` (held back behind the organisation's next event) and `webhook-dup` (sent
twice). A 2xx answer is a delivery; anything else, a timeout or a refused connection is a failed
attempt, retried after `webhook_backoff_s` doubling [guess: Microsoft's schedule is not documented].
`drain()` sends everything pending now (retries without waiting), which `Sandbox.settle` uses.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final

import httpx

from partner_sandbox.config import FaultSpec, SandboxConfig
from partner_sandbox.responses import dumps
from partner_sandbox.signing import WebhookSigner
from partner_sandbox.store import wire_time

CERTIFICATE_PATH: Final = "/_sandbox/webhooks/pcnotifications-dispatch.cer"
SIGNATURE_ALGORITHM: Final = "rsa-sha256"
_POLL_S: Final = 0.02  # how often an idle worker looks at the (possibly warped) clock


def change_time(posix: float) -> str:
    """`ResourceChangeUtcDate` as the documented examples write it: 7 digits and `+00:00`."""
    return wire_time(posix)[:-1] + "+00:00"


@dataclass
class Registration:
    """One organisation's webhook registration ([docs] one URL per tenant)."""

    subscriber_id: str
    webhook_url: str
    events: tuple[str, ...]
    ms_signature_header: bool
    modified: str
    base_url: str  # the sandbox's own URL, as the registering client saw it

    def wire(self) -> dict[str, Any]:
        return {
            "subscriberId": self.subscriber_id,
            "webhookUrl": self.webhook_url,
            "webhookEvents": list(self.events),
            "signatureTokenToMsSignatureHeader": self.ms_signature_header,
            "lastModifiedTimestamp": self.modified,
        }


@dataclass(order=True)
class Delivery:
    due: float
    sequence: int
    org_id: str = field(compare=False)
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    ms_signature_header: bool = field(compare=False)
    certificate_url: str = field(compare=False)
    correlation_id: str | None = field(compare=False, default=None)  # a test event's
    attempts: int = field(compare=False, default=0)


@dataclass
class Validation:
    """A test event's state, as `GET .../validationEvents/{id}` reports it."""

    correlation_id: str
    org_id: str
    callback_url: str
    status: str = "pending"
    results: list[dict[str, Any]] = field(default_factory=list)


class WebhookDispatcher:
    def __init__(
        self, config: SandboxConfig, clock: Callable[[], float], spec: Callable[[], FaultSpec]
    ) -> None:
        self._config = config
        self._clock = clock
        self._spec = spec
        self.signer = WebhookSigner(config.webhook_organization, clock)
        self.registrations: dict[str, Registration] = {}
        self.validations: dict[str, Validation] = {}
        self._rng = random.Random(config.seed ^ 0x00E8_4001)
        self._queue: list[Delivery] = []
        self._held: dict[str, list[Delivery]] = {}  # org -> events waiting behind the next one
        self._sequence = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight = 0
        self._hurry = False
        self.counts: Counter[str] = Counter()
        # Where deliveries go: None is the network; tests give an in-process transport.
        self.transport: httpx.AsyncBaseTransport | None = None

    # ---- queueing --------------------------------------------------------------------------

    def notify(self, org_id: str, event: str, resource_path: str, at: float) -> bool:
        """Queue `event` for the organisation's registration, if it asked for it. The
        `ResourceUri` is `resource_path` on the sandbox's URL."""
        registration = self.registrations.get(org_id)
        if registration is None or event not in registration.events:
            return False
        body = dumps(
            {
                "EventName": event,
                "ResourceUri": registration.base_url + resource_path,
                "ResourceName": event.rsplit("-", 1)[0].removeprefix("related-"),
                "AuditUri": None,
                "ResourceChangeUtcDate": change_time(at),
            }
        )
        self.enqueue(registration, org_id, body)
        return True

    def enqueue(
        self,
        registration: Registration,
        org_id: str,
        body: bytes,
        correlation_id: str | None = None,
    ) -> None:
        spec = self._spec()
        now = self._clock()
        delay = self._rng.uniform(0, spec.webhook_delay) if spec.webhook_delay else 0.0
        duplicate = bool(spec.webhook_dup) and self._rng.random() < spec.webhook_dup
        hold = bool(spec.webhook_reorder) and self._rng.random() < spec.webhook_reorder
        hold = hold and not self._held.get(org_id)  # the one that overtakes is never held
        certificate_url = registration.base_url.rstrip("/") + CERTIFICATE_PATH
        copies = [
            Delivery(
                now + delay,
                next(self._sequence),
                org_id,
                registration.webhook_url,
                body,
                registration.ms_signature_header,
                certificate_url,
                correlation_id,
            )
            for _ in range(2 if duplicate else 1)
        ]
        if duplicate:
            self.counts["duplicated"] += 1
        released = self._held.pop(org_id, [])
        for delivery in copies:
            if hold:
                self._held.setdefault(org_id, []).append(delivery)
            else:
                heapq.heappush(self._queue, delivery)
        for late in released:  # behind the event that just came
            late.due = max(late.due, copies[-1].due)
            late.sequence = next(self._sequence)
            heapq.heappush(self._queue, late)
        if hold:
            self.counts["reordered"] += 1
        self.counts["events"] += 1
        self._kick()

    def pending(self) -> int:
        return len(self._queue) + sum(map(len, self._held.values())) + self._in_flight

    # ---- the worker ------------------------------------------------------------------------

    def _kick(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop here: `drain()` sends them
        if self._task is None or self._task.done():
            self._loop = loop
            self._task = loop.create_task(self._work())

    async def _work(self) -> None:
        async with httpx.AsyncClient(
            transport=self.transport, timeout=self._config.webhook_timeout_s
        ) as client:
            while self._queue:
                wait = self._queue[0].due - self._clock()
                if wait > 0 and not self._hurry:
                    await asyncio.sleep(min(wait, _POLL_S))
                    continue
                delivery = heapq.heappop(self._queue)
                self._in_flight += 1
                try:
                    await self._attempt(client, delivery)
                finally:
                    self._in_flight -= 1

    async def _attempt(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        delivery.attempts += 1
        self.counts["attempts"] += 1
        signature = self.signer.sign(delivery.body)
        headers = {
            "Content-Type": "application/json",
            "X-MS-Certificate-Url": delivery.certificate_url,
            "X-MS-Signature-Algorithm": SIGNATURE_ALGORITHM,
        }
        if delivery.ms_signature_header:
            headers["x-ms-signature"] = signature
        else:
            headers["Authorization"] = f"Signature {signature}"
        status: int | None = None
        message = ""
        try:
            response = await client.post(delivery.url, content=delivery.body, headers=headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            message = type(exc).__name__
        ok = status is not None and 200 <= status < 300
        self._record(delivery, status, message)
        if ok:
            self.counts["delivered"] += 1
            return
        self.counts["failed"] += 1
        if delivery.attempts >= self._config.webhook_attempts:
            self.counts["offline"] += 1  # [docs] "moved into an offline queue"
            validation = self.validations.get(delivery.correlation_id or "")
            if validation is not None:
                validation.status = "failed"
            return
        backoff = min(
            self._config.webhook_backoff_s * 2 ** (delivery.attempts - 1),
            self._config.webhook_backoff_max_s,
        )
        delivery.due = self._clock() + backoff
        delivery.sequence = next(self._sequence)
        heapq.heappush(self._queue, delivery)

    def _record(self, delivery: Delivery, status: int | None, message: str) -> None:
        validation = self.validations.get(delivery.correlation_id or "")
        if validation is None:
            return
        code = HTTPStatus(status).phrase.replace(" ", "") if status in _STATUSES else str(status)
        validation.results.append(
            {
                "responseCode": code if status is not None else None,
                "responseMessage": message,
                "systemError": status is None,
                "dateTimeUtc": wire_time(self._clock())[:-1],
            }
        )
        if status is not None and 200 <= status < 300:
            validation.status = "completed"

    async def drain(self) -> None:
        """Send everything pending now, retries included, until nothing is left."""
        for org_id in list(self._held):
            for late in self._held.pop(org_id):
                heapq.heappush(self._queue, late)
        self._hurry = True
        try:
            while self.pending():
                if self._loop is not None and self._loop.is_closed():
                    self._task = None  # a worker of a loop that is gone: its deliveries remain
                    self._in_flight = 0
                if self._task is not None and not self._task.done():
                    if self._loop is asyncio.get_running_loop():
                        await asyncio.shield(self._task)
                        continue
                    await asyncio.sleep(_POLL_S)  # another loop's worker is sending them
                    continue
                self._task = None
                self._loop = asyncio.get_running_loop()
                await self._work()
        finally:
            self._hurry = False

    def clear(self) -> None:
        self.registrations.clear()
        self.validations.clear()
        self._queue.clear()
        self._held.clear()
        self.counts.clear()
        self._rng.seed(self._config.seed ^ 0x00E8_4001)

    def stats(self) -> dict[str, Any]:
        return {
            "registrations": len(self.registrations),
            "events": self.counts["events"],
            "attempts": self.counts["attempts"],
            "delivered": self.counts["delivered"],
            "failed": self.counts["failed"],
            "offline": self.counts["offline"],
            "duplicated": self.counts["duplicated"],
            "reordered": self.counts["reordered"],
            "pending": self.pending(),
        }

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the worker runs on (None before the first delivery)."""
        return self._loop


_STATUSES: Final = frozenset(s.value for s in HTTPStatus)
