"""Timer-triggered functions of `function_app`, fired on the broker's clock.

Read from each function's `timerTrigger` binding (`schedule`, `runOnStartup`). The schedule is
the Functions host's: an NCRONTAB expression with six fields `{second} {minute} {hour} {day}
{month} {day-of-week}` in UTC (evaluated by `croniter`, seconds first), a TimeSpan `hh:mm:ss`
(every so long), or `%SETTING%` naming an app setting (an environment variable) that holds one.
The host fires a due timer once however many occurrences it missed (as the real host does after
downtime), with `past_due` set when it fires after the occurrence, and computes the next one from
now.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import azure.functions as func
from azure.functions.timer import TimerRequest
from croniter import croniter

_TIMESPAN: Final = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")
_SETTING: Final = re.compile(r"^%([^%]+)%$")
# A run this much after its occurrence is `past_due` (the broker clock runs on while we look).
PAST_DUE_AFTER_S: Final = 1.0


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    text: str
    interval_s: float | None  # a TimeSpan schedule; None for NCRONTAB

    @classmethod
    def parse(cls, raw: str, environ: dict[str, str] | None = None) -> Schedule:
        text = raw.strip()
        setting = _SETTING.match(text)
        if setting:
            value = (environ if environ is not None else dict(os.environ)).get(setting.group(1))
            if value is None:
                raise ScheduleError(f"the app setting {setting.group(1)!r} is not set")
            text = value.strip()
        span = _TIMESPAN.match(text)
        if span:
            days, hours, minutes, seconds = (int(x or 0) for x in span.groups())
            interval = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
            if interval <= 0:
                raise ScheduleError("a TimeSpan schedule must be positive")
            return cls(text, float(interval))
        if len(text.split()) != 6:
            raise ScheduleError(f"{text!r} is not a six-field NCRONTAB expression")
        if not croniter.is_valid(text, second_at_beginning=True):
            raise ScheduleError(f"{text!r} is not a valid NCRONTAB expression")
        return cls(text, None)

    def next_after(self, posix: float) -> float:
        """The first occurrence strictly after `posix` (POSIX seconds, UTC)."""
        if self.interval_s is not None:
            return posix + self.interval_s
        start = datetime.datetime.fromtimestamp(posix, datetime.UTC)
        following: datetime.datetime = croniter(
            self.text, start, second_at_beginning=True
        ).get_next(datetime.datetime)
        return following.timestamp()


@dataclass
class TimerFunction:
    name: str
    arg_name: str
    schedule: Schedule
    run_on_startup: bool
    call: Callable[..., Any]
    next_due: float = 0.0
    fired: int = 0

    def due(self, now: float) -> bool:
        return self.next_due <= now

    def take(self, now: float) -> TimerRequest:
        """The argument of the invocation due now; moves `next_due` on."""
        past_due = now - self.next_due > PAST_DUE_AFTER_S
        self.next_due = self.schedule.next_after(now)
        self.fired += 1
        return TimerRequest(past_due=past_due)


def timer_function(function: func.Function, binding: dict[str, Any], now: float) -> TimerFunction:
    timer = TimerFunction(
        name=function.get_function_name() or binding["name"],
        arg_name=binding["name"],
        schedule=Schedule.parse(str(binding["schedule"])),
        run_on_startup=bool(binding.get("runOnStartup", False)),
        call=function.get_user_function(),
    )
    timer.next_due = now if timer.run_on_startup else timer.schedule.next_after(now)
    return timer
