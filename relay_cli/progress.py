"""The progress line of `run`: inputs that reached their final outcome, out of all inputs.

Fed by the invocation stream (`shared.telemetry.outcomes`). An input is done when create ends it
(rejected, failed, or created/duplicate for an Independent referral), or when connect ends the
Shared referral create made for it. Drawn by tqdm on stderr, only when asked (`enabled`).
"""

from __future__ import annotations

from typing import Any, Final

from shared.telemetry.outcomes import Invocation

_NOT_FINAL: Final = frozenset({"rescheduled", "skipped"})


class Progress:
    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total = total
        self.done = 0
        self._inputs: set[str] = set()
        self._finished: set[str] = set()
        self._connecting: dict[str, str] = {}  # referral id → input MessageId
        self._bar: Any = None
        if enabled:
            import sys

            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="input", desc="referral-relay run", file=sys.stderr)

    def expect(self, message_ids: list[str]) -> None:
        self._inputs.update(message_ids)

    def observe(self, invocation: Invocation) -> None:
        outcome = invocation.outcome
        if outcome is None or outcome.kind in _NOT_FINAL:
            return
        if invocation.function == "create_referral":
            source = invocation.original_message_id
            if outcome.kind in ("created", "duplicate") and outcome.referral_type == "Shared":
                if outcome.referral_id:
                    self._connecting[outcome.referral_id] = source
                return
            self._finish(source)
        elif invocation.function == "connect_referral" and outcome.referral_id:
            source = self._connecting.pop(outcome.referral_id, "")
            self._finish(source)

    def _finish(self, message_id: str) -> None:
        if message_id in self._finished:
            return
        self._finished.add(message_id)
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
