"""Job logs in ``sys.jobLogs``: ``{timestamp, level, message}`` per line, queried by time, level and text."""

from __future__ import annotations

import re
from typing import Any

import pymongo
from bson import ObjectId

from core.http import name_list, offset_param, period_param
from core.storage import Store
from jobs.model import JOB_LOGS, now_ms

LEVELS = ("INFO", "WARN", "ERROR")


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
              levels: list[str] | None, message: str | None, size: int, after: str | None) -> dict[str, Any]:
        """``{total, offset, items}``, oldest first; ``period`` (when given) replaces from/to; ``levels`` in any
        case; ``after`` is the ``offset`` of the previous page or a number of logs to skip. A bad value is a 400
        naming its parameter."""
        if period:
            time_from, time_to = period_param(period)
        skip, cursor = offset_param(after, "log")
        cond: dict[str, Any] = {"jobId": job_id}
        span: dict[str, int] = {}
        if time_from is not None:
            span["$gte"] = time_from
        if time_to is not None:
            span["$lte"] = time_to
        if span:
            cond["timestamp"] = span
        if levels:
            cond["level"] = {"$in": list(name_list(levels, LEVELS, "level"))}
        if message:
            cond["message"] = {"$regex": re.escape(message), "$options": "i"}
        total = self.col.count_documents(cond)
        page_cond = {**cond, "_id": {"$gt": cursor}} if cursor is not None else cond
        docs = list(self.col.find(page_cond).sort("_id", pymongo.ASCENDING).skip(skip).limit(size)) if size else []
        items = [{"timestamp": d["timestamp"], "level": d["level"], "message": d["message"]} for d in docs]
        return {"total": total, "offset": str(docs[-1]["_id"]) if docs else None, "items": items}

