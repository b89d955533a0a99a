"""Cron expressions (croniter) in a timezone: validation, the next fire time, the latest one due."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter


def timezone_problem(name: object) -> str | None:
    if not isinstance(name, str) or not name:
        return "timezone is an IANA name such as 'UTC' or 'America/New_York'"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        return f"Unknown timezone '{name[:100]}'"
    return None


def cron_problem(expr: object, seconds_allowed: bool) -> str | None:
    """Why ``expr`` is not a cron we run: 5 fields (minute hour day month weekday); 6 (seconds first) in test mode."""
    if not isinstance(expr, str) or not expr.strip():
        return "cron is a string of 5 fields: minute hour day-of-month month day-of-week"
    fields = expr.split()
    if len(fields) == 6 and not seconds_allowed:
        return "cron has 5 fields (minute hour day-of-month month day-of-week); seconds are not supported"
    if len(fields) not in (5, 6):
        return f"cron has 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
    if not croniter.is_valid(expr, second_at_beginning=len(fields) == 6):
        return f"'{expr}' is not a valid cron expression"
    try:
        croniter(expr, dt.datetime(2000, 1, 1), second_at_beginning=len(fields) == 6).get_next(dt.datetime)
    except CroniterBadDateError:  # e.g. ``0 0 31 2 *``: a day no such month has
        return f"'{expr}' never fires: no date matches it"
    return None


def _iter(expr: str, tz: str, at_ms: int) -> croniter:
    start = dt.datetime.fromtimestamp(at_ms / 1000, ZoneInfo(tz))
    return croniter(expr, start, second_at_beginning=len(expr.split()) == 6)


def next_after(expr: str, tz: str, after_ms: int) -> int:
    """The first fire time strictly after ``after_ms`` (epoch millis). A schedule at fixed hours fires once on
    the day clocks go back, at the first of the two times its wall-clock time happens (as cron and Quartz do);
    one that repeats through the hours (``*/2``, ``*``) fires at both. A time the clocks skip fires when they
    have gone forward (``30 2 * * *`` at 03:00 that day)."""
    times = _iter(expr, tz, after_ms)
    fire = times.get_next(dt.datetime)
    if _fixed_hours(expr):
        while fire.fold:  # the second 01:30 of the night clocks go back
            fire = times.get_next(dt.datetime)
    return int(fire.timestamp() * 1000)


def _fixed_hours(expr: str) -> bool:
    fields = expr.split()
    hours = fields[2] if len(fields) == 6 else fields[1]
    return "*" not in hours and "/" not in hours


def latest_due(expr: str, tz: str, now_ms: int) -> int:
    """The last fire time at or before ``now_ms``: what fires when one or many were missed."""
    return int(_iter(expr, tz, now_ms + 1).get_prev(dt.datetime).timestamp() * 1000)
