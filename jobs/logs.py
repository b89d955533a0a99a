"""Job logs in ``sys.jobLogs``: ``{timestamp, level, message}`` per line, queried by time, level and text."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pymongo
from bson import ObjectId

from jobs.model import JOB_LOGS, now_ms
from runtime.errors import BadRequest
from runtime.storage import Store

LEVELS = ("INFO", "WARN", "ERROR")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+)\s*([smhdw])")


class JobLogs:
    def __init__(self, store: Store):
        self.col = store.collection(JOB_LOGS)

    def ensure_indexes(self) -> None:
        self.col.create_index([("jobId", 1), ("_id", 1)], name="by_job")
        self.col.create_index([("jobId", 1), ("timestamp", 1)], name="by_job_time")

    def write(self, job_id: ObjectId, level: str, message: str) -> None:
        if level not in LEVELS:
            raise ValueError(f"log level must be one of {LEVELS}")
        self.col.insert_one({"jobId": job_id, "timestamp": now_ms(), "level": level, "message": str(message)})

    def query(self, job_id: ObjectId, period: str | None, time_from: int | None, time_to: int | None,
              levels: list[str] | None, message: str | None, size: int,
              after: ObjectId | None) -> dict[str, Any]:
        """``{total, offset, items}``, oldest first; ``period`` (when given) replaces from/to."""
        if period:
            time_from, time_to = parse_period(period)
        cond: dict[str, Any] = {"jobId": job_id}
        span: dict[str, int] = {}
        if time_from is not None:
            span["$gte"] = time_from
        if time_to is not None:
            span["$lte"] = time_to
        if span:
            cond["timestamp"] = span
        if levels:
            bad = [lv for lv in levels if lv not in LEVELS]
            if bad:
                raise BadRequest(f"level must be a comma list of {', '.join(LEVELS)}; got {', '.join(bad)}")
            cond["level"] = {"$in": levels}
        if message:
            cond["message"] = {"$regex": re.escape(message), "$options": "i"}
        total = self.col.count_documents(cond)
        page_cond = {**cond, "_id": {"$gt": after}} if after is not None else cond
        docs = list(self.col.find(page_cond).sort("_id", pymongo.ASCENDING).limit(size)) if size else []
        items = [{"timestamp": d["timestamp"], "level": d["level"], "message": d["message"]} for d in docs]
        return {"total": total, "offset": str(docs[-1]["_id"]) if docs else None, "items": items}


def parse_period(raw: str, now: dt.datetime | None = None) -> tuple[int, int]:
    """``5m``, ``3h 30m``, ``2d``, ``today``, ``yesterday`` → (from, to) epoch millis. Days are UTC days."""
    now = now or dt.datetime.now(dt.UTC)
    text = raw.strip().lower()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if text == "today":
        return _ms(midnight), _ms(now)
    if text == "yesterday":
        return _ms(midnight - dt.timedelta(days=1)), _ms(midnight) - 1
    parts = _PART.findall(text)
    if not parts or _PART.sub("", text).strip():
        raise BadRequest(f"period '{raw}' is not valid: use e.g. 5m, 3h 30m, 2d, 1w, today or yesterday")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in parts)
    return _ms(now) - seconds * 1000, _ms(now)


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)
