"""Log levels a person reading a local run can trust: an ERROR is one failed message.

The shared summary line logs every invocation of a message that already gave up at ERROR (each
redelivery until Service Bus dead-letters it), and a duplicate that waits for the original's
claim as a WARNING. On the local handler only:

* a `failed` invocation that published nothing (the referral-failed event went out earlier, on
  the first failure) drops to DEBUG: one ERROR per failed message, however many redeliveries;
* a reschedule because another worker holds the key (`claim_busy`: the duplicate in `make run`)
  is INFO: nothing is wrong, the duplicate is answered once the original finishes.
"""

from __future__ import annotations

import logging
from typing import Final

from shared.names import TELEMETRY_OUTCOME

INVOCATION_LOGGER: Final = "referral_relay.invocation"
CLAIM_BUSY: Final = "claim_busy"


class QuietRepeats(logging.Filter):
    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != INVOCATION_LOGGER:
            return True
        outcome = getattr(record, "outcome", None)
        if outcome == "failed" and not getattr(record, TELEMETRY_OUTCOME, None):
            _set_level(record, logging.DEBUG)
        elif outcome == "rescheduled" and getattr(record, "error_code", None) == CLAIM_BUSY:
            _set_level(record, logging.INFO)
        return record.levelno >= self.threshold


def quiet_repeats(handler: logging.Handler) -> None:
    """Install on the local log handler; keeps the `referral_relay` logger's level."""
    threshold = logging.getLogger("referral_relay").getEffectiveLevel()
    handler.addFilter(QuietRepeats(threshold))


def _set_level(record: logging.LogRecord, level: int) -> None:
    record.levelno = level
    record.levelname = logging.getLevelName(level)
