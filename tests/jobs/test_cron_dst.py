"""Cron fire times across daylight-saving changes (``jobs.schedules.cron``)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from jobs.schedules.cron import next_after

NEW_YORK = "America/New_York"


def _fires(expr: str, start: dt.datetime, count: int) -> list[str]:
    at = int(start.timestamp() * 1000)
    out = []
    for _ in range(count):
        at = next_after(expr, NEW_YORK, at)
        out.append(dt.datetime.fromtimestamp(at / 1000, ZoneInfo(NEW_YORK)).isoformat())
    return out


def test_a_fixed_time_fires_once_on_the_night_clocks_go_back():
    start = dt.datetime(2026, 10, 31, 12, tzinfo=ZoneInfo(NEW_YORK))
    assert _fires("30 1 * * *", start, 3) == [
        "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00", "2026-11-03T01:30:00-05:00"]


def test_a_schedule_through_the_hours_fires_in_both_of_them():
    start = dt.datetime(2026, 11, 1, 0, 45, tzinfo=ZoneInfo(NEW_YORK))
    assert _fires("*/30 * * * *", start, 4) == [
        "2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00",
        "2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00"]


def test_a_time_the_clocks_skip_fires_when_they_have_gone_forward():
    start = dt.datetime(2027, 3, 13, 12, tzinfo=ZoneInfo(NEW_YORK))
    assert _fires("30 2 * * *", start, 2) == ["2027-03-14T03:00:00-04:00", "2027-03-15T02:30:00-04:00"]
