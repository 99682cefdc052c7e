"""Creates committed late (fault `late`): held here until their commit time, then landed.

Real services do this when a gateway gives up (504, a dropped connection, a client timeout) while
the service behind it goes on working (issue 13 D2). The sandbox answers such a create with the
chosen failure at once and keeps the validated referral here; the first request at or after its
due time (on the sandbox's clock), `POST /_sandbox/settle` or `Sandbox.settle()` lands it.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any


@dataclass(order=True)
class PendingCommit:
    due: float
    sequence: int
    org_id: str = field(compare=False)
    referral: dict[str, Any] = field(compare=False)


class LateCommits:
    def __init__(self) -> None:
        self._heap: list[PendingCommit] = []
        self._sequence = itertools.count()
        self.scheduled = 0
        self.landed = 0

    def schedule(self, org_id: str, referral: dict[str, Any], due: float) -> None:
        heapq.heappush(self._heap, PendingCommit(due, next(self._sequence), org_id, referral))
        self.scheduled += 1

    def pop_due(self, now: float | None) -> list[PendingCommit]:
        """Commits due at `now` (all of them when `now` is None), in due order."""
        out: list[PendingCommit] = []
        while self._heap and (now is None or self._heap[0].due <= now):
            out.append(heapq.heappop(self._heap))
        self.landed += len(out)
        return out

    def due_times(self) -> list[float]:
        """When the pending commits land, earliest first."""
        return sorted(c.due for c in self._heap)

    def __len__(self) -> int:
        return len(self._heap)

    def clear(self) -> None:
        self._heap.clear()
        self.scheduled = self.landed = 0

    def stats(self) -> dict[str, int]:
        return {"scheduled": self.scheduled, "landed": self.landed, "pending": len(self._heap)}
