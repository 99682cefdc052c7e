"""Seeded, deterministic fault injection, and the two network faults done for real.

Every request to a faultable route asks `FaultInjector.decide(route)` once: scripted faults
(`POST /_sandbox/faults/next`) come first, then one draw from the seeded generator picks 429, 500,
503, drop, hang, lost, late (creates only) or nothing; a late commit draws what the client sees
(504, drop, hang) and when the commit lands; another draw adds latency jitter. A list with a
`$filter` draws once more (`decide_filter`) when a filter fault is set. Same seed, same spec,
same request order: same faults.

Network faults must look to a client exactly like the real thing:

* Under uvicorn (`partner_sandbox.server`), the sandbox's protocol class registers each
  connection's transport in `Connections`; a drop aborts that transport, so the client sees the
  server hang up without an answer (`httpx.RemoteProtocolError`), never a 500.
* In-process there is no socket: `Connections.drop` raises `ConnectionDropped`, which
  `partner_sandbox.transport.SandboxTransport` turns into `httpx.RemoteProtocolError`.
* A hang holds the request until the client goes away (its read timeout) or `hang_s` passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from partner_sandbox.config import ANY_OPERATION, OPERATIONS, FaultSpec, Latency, SandboxConfig


class Fault(StrEnum):
    THROTTLE = "429"
    ERROR = "500"
    UNAVAILABLE = "503"
    DROP = "drop"
    HANG = "hang"
    LOST = "lost"
    LATE = "late"  # creates only


class LateAnswer(StrEnum):
    """What the client of a late-committed create sees (picked by the seeded generator)."""

    GATEWAY_TIMEOUT = "504"
    DROP = "drop"
    HANG = "hang"


class FilterFault(StrEnum):
    REFUSED = "filter-refused"
    IGNORED = "filter-ignored"
    CASE_INSENSITIVE = "filter-ci"


# The draw order matches FaultSpec.thresholds_order() and filter_thresholds().
_DRAW_ORDER = (
    Fault.THROTTLE,
    Fault.ERROR,
    Fault.UNAVAILABLE,
    Fault.DROP,
    Fault.HANG,
    Fault.LOST,
    Fault.LATE,
)
_FILTER_ORDER = (FilterFault.REFUSED, FilterFault.IGNORED, FilterFault.CASE_INSENSITIVE)


@dataclass(frozen=True, slots=True)
class Decision:
    fault: Fault | None
    delay_s: float
    late_answer: LateAnswer | None = None
    late_after_s: float = 0.0  # a late commit lands this long after the request


NO_FAULT = Decision(None, 0.0)


class FaultInjector:
    """What happens to each request. One seeded `random.Random` drives every draw."""

    def __init__(self, config: SandboxConfig) -> None:
        self._seed = config.seed
        self._rng = random.Random(config.seed)
        self.spec: FaultSpec = config.faults
        self.latency: dict[str, Latency] = dict(config.latency)
        self.token_endpoint: bool = config.fault_token_endpoint
        self._scripted: dict[str, deque[Fault]] = {}
        self.injected: Counter[str] = Counter()

    def configure(
        self,
        *,
        spec: FaultSpec | None = None,
        latency: Mapping[str, Latency] | None = None,
        token_endpoint: bool | None = None,
        seed: int | None = None,
    ) -> None:
        """Change faults at run time (admin endpoint). `latency` replaces the whole map."""
        if spec is not None:
            self.spec = spec
        if latency is not None:
            self.latency = dict(latency)
        if token_endpoint is not None:
            self.token_endpoint = token_endpoint
        if seed is not None:
            self._seed = seed
            self._rng.seed(seed)

    def script(self, fault: Fault, route: str = ANY_OPERATION, count: int = 1) -> None:
        """Force `fault` on the next `count` requests to `route` (before any random draw)."""
        if route != ANY_OPERATION and route not in OPERATIONS:
            raise ValueError(f"unknown route {route!r}")
        if count < 1:
            raise ValueError("count must be at least 1")
        self._scripted.setdefault(route, deque()).extend([fault] * count)

    def reset(self) -> None:
        """Back to the start of the seeded sequence; scripted faults and counts cleared."""
        self._rng.seed(self._seed)
        self._scripted.clear()
        self.injected.clear()

    def decide(self, route: str) -> Decision:
        fault = self._scripted_fault(route)
        if fault is Fault.LATE and route != "create":
            fault = None  # only a create can commit late
        if fault is None and self.spec.active:
            fault = self._draw(route)
        latency = self.latency.get(route) or self.latency.get(ANY_OPERATION)
        delay = 0.0
        if latency is not None:
            delay = latency.fixed_ms / 1000.0
            if latency.jitter_ms:
                delay += self._rng.random() * latency.jitter_ms / 1000.0
        if fault is None:
            return Decision(None, delay) if delay else NO_FAULT
        self.injected[fault.value] += 1
        if fault is Fault.LATE:
            answer = (LateAnswer.GATEWAY_TIMEOUT, LateAnswer.DROP, LateAnswer.HANG)[
                self._rng.randrange(3)
            ]
            after = self._rng.random() * self.spec.late_delay
            return Decision(fault, delay, answer, after)
        return Decision(fault, delay)

    def decide_filter(self, names_external_reference_id: bool) -> FilterFault | None:
        """For a list with a `$filter`: refused (only a filter naming externalReferenceId),
        ignored, case-insensitive, or None. One draw, and only when a filter fault is set."""
        if not any(self.spec.filter_thresholds()):
            return None
        point = self._rng.random()
        edge = 0.0
        for kind, probability in zip(_FILTER_ORDER, self.spec.filter_thresholds(), strict=True):
            edge += probability
            if point < edge:
                if kind is FilterFault.REFUSED and not names_external_reference_id:
                    return None
                self.injected[kind.value] += 1
                return kind
        return None

    def _scripted_fault(self, route: str) -> Fault | None:
        for key in (route, ANY_OPERATION):
            queue = self._scripted.get(key)
            if queue:
                fault = queue.popleft()
                if not queue:
                    del self._scripted[key]
                return fault
        return None

    def _draw(self, route: str) -> Fault | None:
        point = self._rng.random()
        edge = 0.0
        for fault, probability in zip(_DRAW_ORDER, self.spec.thresholds_order(), strict=True):
            edge += probability
            if point < edge:
                # `late` is last in the order, so other routes keep their sequence.
                return None if fault is Fault.LATE and route != "create" else fault
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_spec(),
            "latency": {route: lat.to_spec() for route, lat in self.latency.items()},
            "tokenEndpoint": self.token_endpoint,
            "seed": self._seed,
            "scripted": {route: [f.value for f in q] for route, q in self._scripted.items()},
        }


class ConnectionDropped(Exception):
    """The sandbox hung up. Raised only in-process, where there is no socket to close."""


class Connections:
    """Live server connections by client address (host, port), kept by the sandbox's server."""

    def __init__(self) -> None:
        self._by_client: dict[tuple[str, int], asyncio.BaseTransport] = {}
        self._served = False  # True once a server has registered a connection

    def add(self, client: tuple[str, int] | None, transport: asyncio.BaseTransport) -> None:
        self._served = True
        if client is not None:
            self._by_client[client] = transport

    def discard(self, client: tuple[str, int] | None) -> None:
        if client is not None:
            self._by_client.pop(client, None)

    async def drop(self, scope: Mapping[str, Any]) -> None:
        """Close the request's connection without answering."""
        client = scope.get("client")
        transport = self._by_client.get((client[0], client[1])) if client else None
        if transport is None:
            if self._served:
                return  # the client hung up first (a hang outlived its timeout): nothing to drop
            raise ConnectionDropped
        transport.abort()  # type: ignore[attr-defined]
        # Let the server see the loss before the app returns, so it does not try to answer.
        for _ in range(3):
            await asyncio.sleep(0)


async def hold_until_disconnect(receive: Any, seconds: float) -> bool:
    """Keep the request unanswered until the client leaves; True if it did, False on timeout."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return True
    return False
