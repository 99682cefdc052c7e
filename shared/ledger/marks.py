"""Marks: monotonic per-key values beside the idempotency ledger (issue 14).

The lifecycle needs small facts that only ever move forward: the `sourceUpdatedAt` of the last
update applied to a referral (stale updates are skipped: Service Bus without sessions does not
keep order), the (referral id, eTag) pairs already published as `referral-changed`, the poller's
`updatedDateTime` watermark. Values compare as strings, so callers store ISO-8601 UTC instants
(`2026-12-02T20:00:00.000000Z`, fixed width) or opaque tokens whose only question is "seen?".

`advance` is a compare-and-set in the store (insert-if-absent, else an ETag-guarded replace), so
two workers racing on one key cannot move a mark backwards.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Marks(Protocol):
    async def get(self, scope: str, key: str) -> str | None:
        """The stored value, or None when the key was never marked."""
        ...

    async def advance(self, scope: str, key: str, value: str) -> bool:
        """Store `value` when it is greater than the stored one (or none is stored).

        True when the mark moved; False when the stored value is equal or greater.
        """
        ...


class InMemoryMarks:
    """A real implementation of the port for the local host, tests and benches."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, str], str] = {}
        self._lock = asyncio.Lock()

    async def get(self, scope: str, key: str) -> str | None:
        return self._values.get((scope, key))

    async def advance(self, scope: str, key: str, value: str) -> bool:
        async with self._lock:
            stored = self._values.get((scope, key))
            if stored is not None and stored >= value:
                return False
            self._values[(scope, key)] = value
            return True
