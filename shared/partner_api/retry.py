"""The retry policy for Partner API calls (tenacity), bounded by the caller's deadline.

* Only `TransientError`s are retried (and only those the caller's predicate allows: see the
  ambiguous-create rule in `client.py`); permanent errors surface on the first attempt.
* Waits are full-jitter exponential backoff (`initial_wait * 2**n`, capped at `max_wait`), but
  never shorter than the service's `Retry-After` (carried on the error as `retry_after`).
* The deadline is absolute, on `clock`. When the next wait would end past it — or
  `max_attempts` is used up — the last error is raised with `retry_after` set to that wait, so the
  handler can reschedule the message instead of sleeping through its lock.
* `sleep` and `clock` are injectable: tests drive the policy with a fake clock and assert the
  waits it asked for, never real time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_random_exponential

from shared.partner_api.errors import TransientError
from shared.telemetry import hooks as telemetry

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

logger = logging.getLogger("referral_relay.partner_api")


def _transient(state: RetryCallState) -> TransientError:
    exc = state.outcome.exception() if state.outcome else None
    if not isinstance(exc, TransientError):  # the retry predicate admits nothing else
        raise TypeError("retry state holds no TransientError")
    return exc


class _HonourRetryAfter(wait_base):
    """Backoff, but at least what the service asked for."""

    def __init__(self, backoff: wait_base) -> None:
        self._backoff = backoff

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff = self._backoff(retry_state)
        asked = _transient(retry_state).retry_after
        return max(backoff, asked) if asked is not None else backoff


class _StopAtDeadline(stop_base):
    """Stop when sleeping the upcoming wait would end past the deadline."""

    def __init__(self, clock: Clock, deadline: float) -> None:
        self._clock = clock
        self._deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._clock() + retry_state.upcoming_sleep > self._deadline


@dataclass(frozen=True)
class RetryPolicy:
    """Deadline-bounded, jittered exponential backoff that honours Retry-After."""

    initial_wait: float = 0.5
    max_wait: float = 20.0
    max_attempts: int = 8
    sleep: Sleep = field(default=asyncio.sleep)
    clock: Clock = field(default=time.monotonic)

    async def run(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        deadline: float,
        operation: str,
        should_retry: Callable[[TransientError], bool] = lambda _: True,
    ) -> T:
        """Call `attempt` until it returns, fails permanently, or the deadline is reached."""

        def retryable(exc: BaseException) -> bool:
            return isinstance(exc, TransientError) and should_retry(exc)

        def give_up(state: RetryCallState) -> T:
            raise _transient(state).give_up(state.upcoming_sleep)

        def log_wait(state: RetryCallState) -> None:
            exc = _transient(state)
            telemetry.retry_wait(operation, state.upcoming_sleep)
            logger.warning(
                "Partner API %s: %s, retrying",
                operation,
                type(exc).__name__,
                extra={
                    "operation": operation,
                    "attempt": state.attempt_number,
                    "wait_seconds": round(state.upcoming_sleep, 3),
                    "status": exc.status,
                    "error_code": exc.code,
                    "request_id": exc.request_id,
                    "client_request_id": exc.client_request_id,
                },
            )

        retrying: AsyncRetrying = AsyncRetrying(
            sleep=self.sleep,
            retry=retry_if_exception(retryable),
            wait=_HonourRetryAfter(
                wait_random_exponential(multiplier=self.initial_wait, max=self.max_wait)
            ),
            stop=stop_after_attempt(self.max_attempts) | _StopAtDeadline(self.clock, deadline),
            retry_error_callback=give_up,
            before_sleep=log_wait,
        )
        result: T = await retrying(attempt)
        return result
