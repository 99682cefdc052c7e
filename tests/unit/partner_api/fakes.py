"""Fakes for the Partner API client's tests: a clock that moves only when slept on, and tokens."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FakeClock:
    """Monotonic time that advances only through `sleep`; records every requested wait."""

    now: float = 1000.0
    waits: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@dataclass
class FakeTokens:
    """A token provider handing out `access-token-1-…`, then `-2-…` after each invalidation."""

    issued: int = 1
    invalidated: list[str] = field(default_factory=list)

    @property
    def current(self) -> str:
        return f"access-token-{self.issued}-7f3a9c51"

    async def get_token(self) -> str:
        return self.current

    def invalidate(self, token: str) -> None:
        self.invalidated.append(token)
        if token == self.current:
            self.issued += 1
