"""The fault injector: seeded draws, scripted faults, latency, run-time changes."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from partner_sandbox.config import FaultSpec, Latency, SandboxConfig
from partner_sandbox.faults import ConnectionDropped, Connections, Fault, FaultInjector

SPEC = FaultSpec(throttle=0.1, error=0.05, unavailable=0.05, drop=0.02, hang=0.02, lost=0.06)


def draws(injector: FaultInjector, count: int, route: str = "create") -> list[Fault | None]:
    return [injector.decide(route).fault for _ in range(count)]


def test_same_seed_same_faults_other_seed_other_faults() -> None:
    first = draws(FaultInjector(SandboxConfig(seed=1, faults=SPEC)), 500)
    again = draws(FaultInjector(SandboxConfig(seed=1, faults=SPEC)), 500)
    other = draws(FaultInjector(SandboxConfig(seed=2, faults=SPEC)), 500)

    assert first == again
    assert first != other


def test_frequencies_follow_the_spec() -> None:
    injector = FaultInjector(SandboxConfig(seed=3, faults=SPEC))

    counts = Counter(draws(injector, 20_000))

    # Seeded, so these counts are exact for this seed; the bounds show they follow the spec.
    expected = {
        Fault.THROTTLE: 0.1,
        Fault.ERROR: 0.05,
        Fault.UNAVAILABLE: 0.05,
        Fault.DROP: 0.02,
        Fault.HANG: 0.02,
        Fault.LOST: 0.06,
        None: 0.7,
    }
    for fault, probability in expected.items():
        assert abs(counts[fault] / 20_000 - probability) < 0.01, fault
    assert injector.injected == {f.value: n for f, n in counts.items() if f is not None}


def test_no_spec_no_faults_and_no_draws() -> None:
    injector = FaultInjector(SandboxConfig(seed=4))

    assert set(draws(injector, 100)) == {None}
    assert injector.injected == {}


def test_scripted_faults_come_first_and_per_route() -> None:
    injector = FaultInjector(SandboxConfig(seed=5))
    injector.script(Fault.LOST, "create", count=2)
    injector.script(Fault.DROP)  # any route

    assert draws(injector, 1, "list") == [Fault.DROP]
    assert draws(injector, 3, "create") == [Fault.LOST, Fault.LOST, None]
    assert injector.describe()["scripted"] == {}


def test_scripted_faults_do_not_shift_the_seeded_sequence() -> None:
    plain = FaultInjector(SandboxConfig(seed=6, faults=SPEC))
    scripted = FaultInjector(SandboxConfig(seed=6, faults=SPEC))
    scripted.script(Fault.HANG, "get")

    assert draws(scripted, 1, "get") == [Fault.HANG]
    assert draws(scripted, 200) == draws(plain, 200)


@pytest.mark.parametrize(
    ("route", "count", "message"), [("delete", 1, "unknown route"), ("create", 0, "at least 1")]
)
def test_bad_scripts(route: str, count: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultInjector(SandboxConfig()).script(Fault.DROP, route, count)


def test_latency_per_route_with_seeded_jitter() -> None:
    config = SandboxConfig(seed=7, latency={"create": Latency(40, 20), "*": Latency(3)})
    first, second = FaultInjector(config), FaultInjector(config)

    delays = [first.decide("create").delay_s for _ in range(50)]

    assert all(0.040 <= d < 0.060 for d in delays)
    assert len(set(delays)) == 50
    assert delays == [second.decide("create").delay_s for _ in range(50)]
    assert first.decide("list").delay_s == 0.003


def test_configure_and_reset() -> None:
    injector = FaultInjector(SandboxConfig(seed=8))
    injector.configure(spec=FaultSpec(error=0.5), seed=80, token_endpoint=True)
    first = draws(injector, 50)
    injector.script(Fault.DROP)

    injector.reset()

    assert draws(injector, 50) == first  # reset restarts the sequence of the current seed
    assert injector.token_endpoint
    assert injector.describe()["seed"] == 80


class Transport(asyncio.BaseTransport):
    def __init__(self) -> None:
        super().__init__()
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True


async def test_a_drop_aborts_the_connection_or_says_there_is_none() -> None:
    in_process = Connections()  # no server registered any connection: no socket to close
    with pytest.raises(ConnectionDropped):
        await in_process.drop({"client": ("127.0.0.1", 5000)})

    served = Connections()
    transport = Transport()
    served.add(("127.0.0.1", 5000), transport)
    await served.drop({"client": ("127.0.0.1", 5000)})
    assert transport.aborted

    served.discard(("127.0.0.1", 5000))  # the client hung up first, as after a hang's timeout
    await served.drop({"client": ("127.0.0.1", 5000)})  # nothing left to drop: no error
