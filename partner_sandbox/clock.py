"""The sandbox's wall clock: one replaceable source of POSIX seconds for everything time-based
(timestamps, token lifetimes, late commits, list lag, the rate cap, latency).

`create_app(config, clock=...)`, `serving(app, clock=...)` and `SandboxTransport(app, clock=...)`
set it; the local host's chaos run passes its broker's time-warping clock, so that "minutes later"
in broker time is minutes later for the sandbox too. Time-based effects are applied lazily, on
the first request at or after they are due, so a clock that jumps needs no timer.
"""

from __future__ import annotations

from collections.abc import Callable

ClockSource = Callable[[], float]


class Clock:
    def __init__(self, source: ClockSource) -> None:
        self.source = source

    def __call__(self) -> float:
        return self.source()
