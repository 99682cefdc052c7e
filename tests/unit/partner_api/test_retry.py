"""The retry policy, on a fake clock: the waits it asks for, never real time."""

from __future__ import annotations

import pytest

from shared.partner_api.errors import NetworkError, NotFound, Throttled, TransientError
from shared.partner_api.retry import RetryPolicy
from tests.unit.partner_api.fakes import FakeClock


class Script:
    """An attempt function failing with the given errors, then returning 'ok'."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def policy(clock: FakeClock, **kwargs: float) -> RetryPolicy:
    return RetryPolicy(sleep=clock.sleep, clock=clock, **kwargs)  # type: ignore[arg-type]


async def test_retry_after_is_waited_exactly_when_longer_than_the_backoff() -> None:
    clock = FakeClock()
    script = Script(Throttled("create", retry_after=7), Throttled("create", retry_after=11))

    result = await policy(clock).run(script, deadline=clock.now + 60, operation="create")

    assert result == "ok"
    assert clock.waits == [7.0, 11.0]
    assert script.calls == 3


async def test_backoff_is_jittered_exponential_and_capped() -> None:
    clock = FakeClock()
    script = Script(*[NetworkError("get") for _ in range(7)])

    await policy(clock, initial_wait=0.5, max_wait=4.0, max_attempts=8).run(
        script, deadline=clock.now + 1000, operation="get"
    )

    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert len(clock.waits) == 7
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(clock.waits, ceilings, strict=True))


async def test_a_wait_that_would_cross_the_deadline_is_not_slept_but_suggested() -> None:
    clock = FakeClock()
    script = Script(Throttled("create", status=429, retry_after=30))

    with pytest.raises(Throttled) as caught:
        await policy(clock).run(script, deadline=clock.now + 10, operation="create")

    assert clock.waits == []
    assert caught.value.retry_after == 30.0
    assert "retry after 30.0s" in str(caught.value)


async def test_the_policy_never_sleeps_past_the_deadline() -> None:
    clock = FakeClock()
    start = clock.now
    script = Script(*[Throttled("list", retry_after=4) for _ in range(50)])

    with pytest.raises(Throttled) as caught:
        await policy(clock, max_wait=4.0).run(script, deadline=start + 21, operation="list")

    assert clock.waits == [4.0] * 5
    assert clock.now <= start + 21
    assert caught.value.retry_after == 4.0


async def test_attempts_are_bounded_even_with_time_left() -> None:
    clock = FakeClock()
    script = Script(*[NetworkError("get") for _ in range(10)])

    with pytest.raises(NetworkError) as caught:
        await policy(clock, max_attempts=3).run(script, deadline=clock.now + 1e6, operation="get")

    assert script.calls == 3
    assert caught.value.retry_after is not None


async def test_permanent_errors_are_raised_on_the_first_attempt() -> None:
    clock = FakeClock()
    script = Script(NotFound("get", status=404))

    with pytest.raises(NotFound):
        await policy(clock).run(script, deadline=clock.now + 60, operation="get")

    assert script.calls == 1
    assert clock.waits == []


async def test_the_callers_predicate_can_refuse_a_retry() -> None:
    clock = FakeClock()
    script = Script(NetworkError("create", ambiguous=True))

    def not_ambiguous(exc: TransientError) -> bool:
        return not exc.ambiguous

    with pytest.raises(NetworkError) as caught:
        await policy(clock).run(
            script, deadline=clock.now + 60, operation="create", should_retry=not_ambiguous
        )

    assert script.calls == 1
    assert caught.value.ambiguous


async def test_each_wait_is_logged_with_flat_fields(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    script = Script(Throttled("create", status=429, retry_after=2, request_id="rid-1"))

    with caplog.at_level("WARNING", logger="referral_relay.partner_api"):
        await policy(clock).run(script, deadline=clock.now + 60, operation="create")

    (record,) = caplog.records
    assert record.__dict__["operation"] == "create"
    assert record.__dict__["attempt"] == 1
    assert record.__dict__["wait_seconds"] == 2.0
    assert record.__dict__["status"] == 429
    assert record.__dict__["request_id"] == "rid-1"
