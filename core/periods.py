"""Time spans of log queries: ``period`` (``5m``, ``3h 30m``, ``2d``, ``today``, ``yesterday``) → epoch millis."""

from __future__ import annotations

import datetime as dt
import re

MIN_MILLIS = -62_135_596_800_000  # 0001-01-01T00:00:00.000Z: the first instant a date-time (and a datetime) holds
MAX_MILLIS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: the last instant a date-time (and a datetime) holds
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d{1,9})\s*([smhdw])")


# What ``period`` accepts, for the documents of the routes that read it.
PERIOD_HELP = ("The last span of time up to now, in the duration syntax `Xw Xd Xh Xm Xs` (any of them, in any "
               "order, e.g. `5m`, `2h`, `3h 30m`, `3d`, `1w`), or `today` / `yesterday` (whole UTC days); any case. "
               "When given, `from` and `to` are ignored")


class PeriodError(ValueError):
    pass


def parse_period(raw: str, now: dt.datetime | None = None) -> tuple[int, int]:
    """(from, to) in epoch millis: "the last X", or a whole UTC day for ``today`` / ``yesterday``."""
    now = now or dt.datetime.now(dt.UTC)
    text = raw.strip().lower()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if text == "today":
        return _ms(midnight), _ms(now)
    if text == "yesterday":
        return _ms(midnight - dt.timedelta(days=1)), _ms(midnight) - 1
    parts = _PART.findall(text)
    if not parts or _PART.sub("", text).strip():
        raise PeriodError(f"period '{raw}' is not valid: use e.g. 5m, 3h 30m, 2d, 1w, today or yesterday")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in parts)
    return max(0, _ms(now) - seconds * 1000), _ms(now)


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)
