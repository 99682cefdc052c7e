"""The local run's log levels: one ERROR per failed message, no WARNING for a duplicate."""

from __future__ import annotations

import logging

import pytest

from relay_cli.log_levels import QuietRepeats


def record(level: int, **fields: object) -> logging.LogRecord:
    rec = logging.LogRecord("referral_relay.invocation", level, __file__, 1, "m", None, None)
    for name, value in fields.items():
        setattr(rec, name, value)
    return rec


@pytest.mark.parametrize(
    ("level", "fields", "kept_at"),
    [
        (logging.ERROR, {"outcome": "failed", "relay.outcome": "referral-failed"}, "ERROR"),
        (logging.ERROR, {"outcome": "failed"}, None),  # a redelivery of a given-up message
        (logging.WARNING, {"outcome": "rescheduled", "error_code": "claim_busy"}, "INFO"),
        (logging.WARNING, {"outcome": "rescheduled", "error_code": "throttled"}, "WARNING"),
        (logging.WARNING, {"outcome": "rejected"}, "WARNING"),
    ],
)
def test_levels(level: int, fields: dict[str, object], kept_at: str | None) -> None:
    rec = record(level, **fields)
    kept = QuietRepeats(logging.INFO).filter(rec)
    assert (rec.levelname if kept else None) == kept_at


def test_debug_shows_the_repeats() -> None:
    rec = record(logging.ERROR, outcome="failed")
    assert QuietRepeats(logging.DEBUG).filter(rec)
    assert rec.levelname == "DEBUG"


def test_other_loggers_are_untouched() -> None:
    rec = logging.LogRecord("referral_relay.auth", logging.ERROR, __file__, 1, "m", None, None)
    setattr(rec, "outcome", "failed")  # noqa: B010
    assert QuietRepeats(logging.INFO).filter(rec)
    assert rec.levelname == "ERROR"
