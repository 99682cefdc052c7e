"""The rate cap (fault `rate-cap=R`, CLI `--rate-cap R`): at most R Referrals API requests per
second per organisation, as Partner Center throttles per partner tenant.

A sliding window over admitted requests: with capacity C = max(1, floor(R)) per C/R seconds, a
request is admitted while fewer than C were admitted in the last C/R seconds. Beyond it the
answer is 429 with `Retry-After` = the seconds until the oldest admitted request leaves the
window, rounded up. Refused requests take no slot [guess: the real window is not published].
"""

from __future__ import annotations

import math
from collections import deque


class RateCap:
    def __init__(self) -> None:
        self._admitted: dict[str, deque[float]] = {}
        self.capped = 0

    def admit(self, org_id: str, now: float, rate: float) -> int | None:
        """None if admitted, else the whole seconds a client should wait (at least 1)."""
        if rate <= 0:
            return None
        capacity = max(1, math.floor(rate))
        window_s = capacity / rate
        window = self._admitted.setdefault(org_id, deque())
        while window and window[0] <= now - window_s:
            window.popleft()
        if len(window) < capacity:
            window.append(now)
            return None
        self.capped += 1
        return max(1, math.ceil(window[0] + window_s - now))

    def clear(self) -> None:
        self._admitted.clear()
        self.capped = 0
