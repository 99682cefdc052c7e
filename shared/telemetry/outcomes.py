"""Invocation results as a stream: the summary log line, metrics and the local host all read it.

`record()` is called exactly once per invocation by `shared.invocation`; observers (the local
host's report, tests) subscribe to see every `Invocation`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from shared.contracts.errors import FieldError


class OutcomeView(Protocol):
    """What telemetry and the observers read of a handler's outcome.

    Telemetry sits below the handlers (docs/architecture.md, "Layers"), so it names no handler
    type: `shared.handlers.common.Outcome` satisfies this protocol structurally.
    """

    @property
    def kind(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def referral_id(self) -> str | None: ...
    @property
    def engagement_id(self) -> str | None: ...
    @property
    def connected_referral_id(self) -> str | None: ...
    @property
    def referral_type(self) -> str | None: ...
    @property
    def errors(self) -> tuple[FieldError, ...]: ...
    @property
    def error_code(self) -> str | None: ...
    @property
    def attempt(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Invocation:
    function: str
    message_id: str
    original_message_id: str
    correlation_id: str
    delivery_count: int
    outcome: OutcomeView | None  # None when the invocation raised
    error: str | None = None  # exception class name when it raised (never its message)
    settled: str = "complete"  # "complete" or "abandon" (what the host does with the message)
    trace_id: str | None = None  # the distributed trace (when telemetry is on)


Observer = Callable[[Invocation], None]
_observers: list[Observer] = []


def subscribe(observer: Observer) -> Callable[[], None]:
    """Add an observer; returns the function that removes it."""
    _observers.append(observer)
    return lambda: _observers.remove(observer)


def record(invocation: Invocation) -> None:
    for observer in list(_observers):
        observer(invocation)
