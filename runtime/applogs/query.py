"""``GET /status/logs`` parameters → a validated ``LogQuery``; every bad value is a 400 naming the parameter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bson import ObjectId

from core.http import invalid_param, name_list, offset_param, period_param

LEVELS = ("INFO", "WARN", "ERROR")
DEFAULT_SIZE = 200
MAX_SIZE = 1000
MAX_TEXT = 500


@dataclass(frozen=True)
class LogQuery:
    time_from: int | None = None
    time_to: int | None = None
    levels: tuple[str, ...] = ()
    message: str | None = None
    user_email: str | None = None
    size: int = DEFAULT_SIZE
    skip: int = 0
    after: ObjectId | None = None
    descending: bool = False


def parse_log_query(args: Mapping[str, str]) -> LogQuery:
    """``period`` wins over ``from``/``to`` (which are then ignored, as documented)."""
    period = (args.get("period") or "").strip()
    if period:
        time_from, time_to = period_param(period)
    else:
        time_from, time_to = _millis(args, "from"), _millis(args, "to")
        if time_from is not None and time_to is not None and time_from > time_to:
            raise invalid_param("from", "must not be after 'to'")
    skip, after = offset_param(args.get("_offset"), "log")
    return LogQuery(time_from=time_from, time_to=time_to, levels=name_list(args.get("level"), LEVELS, "level"),
                    message=_text(args, "message"), user_email=_text(args, "userEmail"),
                    size=_int(args.get("_size"), "_size", DEFAULT_SIZE, MAX_SIZE), skip=skip, after=after,
                    descending=_descending(args.get("_sortType")))


def _millis(args: Mapping[str, str], name: str) -> int | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 15:
        raise invalid_param(name, "must be a timestamp in milliseconds since epoch")
    return int(raw)


def _text(args: Mapping[str, str], name: str) -> str | None:
    raw = args.get(name) or ""
    if len(raw) > MAX_TEXT:
        raise invalid_param(name, f"must be at most {MAX_TEXT} characters")
    return raw or None


def _int(raw: str | None, name: str, default: int, maximum: int) -> int:
    if raw in (None, ""):
        return default
    assert raw is not None
    if not (raw.isascii() and raw.isdigit()) or int(raw) > maximum:
        raise invalid_param(name, f"must be an integer between 0 and {maximum}")
    return int(raw)


def _descending(raw: str | None) -> bool:
    value = (raw or "asc").strip().lower()
    if value not in ("asc", "desc"):
        raise invalid_param("_sortType", "must be asc or desc")
    return value == "desc"
