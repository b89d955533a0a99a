"""Writing and reading application logs in ``sys.logs``.

Stored: ``_id``, ``type`` (APP | ENDPOINT | EXTERNAL), ``subType``, ``level``, ``message``, ``userEmail``,
``adminUserEmail``, ``timestamp`` (epoch millis), ``ip``, ``additionalInfo`` (kept as JSON text, so any
keys, ``$`` or dots included, store safely; it is never queried) and ``expiresAt`` (the TTL index removes
the log then). Reads walk the ``(timestamp, _id)`` indexes, so a page costs the same however many logs exist.

``write`` stores a log now (``POST /status/logs`` returns it). What the runtime logs by itself goes through
``log`` / ``defer``: a queue in memory (``runtime.applogs.buffer``) that a background thread writes in batches,
so a request never waits for, nor fails because of, its logs.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable
from typing import Any

import pymongo
from bson import ObjectId
from flask import g, has_request_context
from pymongo.errors import ExecutionTimeout

from core.errors import BadRequest
from core.http import invalid_param, page
from core.storage import Store
from runtime.applogs.buffer import LogBuffer
from runtime.applogs.query import LEVELS, LogQuery

LOGS = "sys.logs"
TYPES = ("APP", "ENDPOINT", "EXTERNAL")
SYSTEM_USER = "system"
MAX_MESSAGE = 10_000
MAX_INFO_BYTES = 64 * 1024
_ORDER = [("timestamp", pymongo.ASCENDING), ("_id", pymongo.ASCENDING)]


_EPOCH = dt.datetime(1970, 1, 1)


class AppLogs:
    def __init__(self, store: Store, retention_days: int, max_time_ms: int = 5000, max_entries: int = 100_000):
        if retention_days < 1:
            raise ValueError("APP_LOG_RETENTION_DAYS must be at least 1")
        if max_entries < 1:
            raise ValueError("APP_LOG_MAX_ENTRIES must be at least 1")
        self.store = store
        self.col = store.collection(LOGS)
        self.retention = dt.timedelta(days=retention_days)
        self.max_time_ms = max_time_ms
        self.max_entries = max_entries
        self.clock: Callable[[], float] = time.time  # seconds since epoch; tests move it
        self.buffer = LogBuffer(self._store_batch)
        self._written_since_cap = 0
        self._cap_check_every = 1  # the first batch counts the logs

    def ensure_indexes(self) -> None:
        self.col.create_index(_ORDER, name="by_time")
        self.col.create_index([("level", pymongo.ASCENDING), *_ORDER], name="by_level_time")
        self.store.ensure_ttl(LOGS, "expiresAt", "expiry")
        self.prune()

    def flush(self, timeout: float = -1) -> int:
        """Write every queued log now (tests; reads; shutdown). Returns how many were written."""
        return self.buffer.flush(timeout)

    def _store_batch(self, docs: list[dict[str, Any]]) -> None:
        if not docs:
            return
        self.store.insert_owned(LOGS, docs)  # every queued log is a fresh ``build`` document: handed over as is
        self.store.commit()
        self._written_since_cap += len(docs)
        if self._written_since_cap >= self._cap_check_every:
            self.cap()

    def cap(self) -> int:
        """Keep at most ``max_entries`` logs: the oldest go first, as the platform's logs rotate. Counted again
        only once as many logs were written as there was room left (or 1 % of the cap), not on every batch."""
        self._written_since_cap = 0
        excess = self.col.estimated_document_count() - self.max_entries
        self._cap_check_every = max(-excess, self.max_entries // 100, 1)
        if excess <= 0:
            return 0
        oldest = [d["_id"] for d in self.col.find({}, {"_id": 1}).sort(_ORDER).limit(excess)]
        return self.col.delete_many({"_id": {"$in": oldest}}).deleted_count

    def prune(self) -> int:
        """Remove logs older than the retention now: a shorter retention also applies to logs already written
        (their ``expiresAt`` was set with the retention of their time). Runs with the release step."""
        oldest = int((self.clock() - self.retention.total_seconds()) * 1000)
        return self.col.delete_many({"timestamp": {"$lt": oldest}}).deleted_count

    # --- writing ---------------------------------------------------------------------------------

    def write(self, level: str, message: str, additional_info: dict[str, Any] | None = None,
              user: str | None = None, *, type: str = "APP", sub_type: str | None = None,
              admin_user: str | None = None, ip: str | None = None) -> dict[str, Any]:
        """Store one log and return it as the API shows it.

        ``user`` is the email the log is about; without one, the caller of the current request (and the admin
        impersonating them, and their IP) is used, or the system user outside a request.
        """
        doc = self.build(level, message, additional_info, user, type=type, sub_type=sub_type, admin_user=admin_user,
                         ip=ip)
        self.col.insert_one(doc)
        self.store.commit()
        return render(doc)

    def log(self, level: str, message: str, additional_info: dict[str, Any] | None = None,
            user: str | None = None, *, type: str = "APP", sub_type: str | None = None,
            admin_user: str | None = None, ip: str | None = None) -> None:
        """Queue a log for the background writer (same arguments as ``write``); never raises for the store."""
        self.buffer.add(self.build(level, message, additional_info, user, type=type, sub_type=sub_type,
                                   admin_user=admin_user, ip=ip))

    def defer(self, make: Callable[[], list[dict[str, Any]]]) -> None:
        """Queue work that builds logs (``build`` documents) in the background writer, off the request."""
        self.buffer.add(make)

    def build(self, level: str, message: str, additional_info: dict[str, Any] | None = None,
              user: str | None = None, *, type: str = "APP", sub_type: str | None = None,
              admin_user: str | None = None, ip: str | None = None, timestamp: float | None = None) -> dict[str, Any]:
        """One stored log document (not yet written): new, of strings, numbers, an id and a naive UTC datetime
        to the millisecond, so the background writer stores it as it is."""
        level = str(level).upper()
        if level not in LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LEVELS)}")
        if type not in TYPES:
            raise ValueError(f"log type must be one of {', '.join(TYPES)}")
        if user is None:
            user, admin_user, ip = _request_identity(admin_user, ip)
        millis = int((self.clock() if timestamp is None else timestamp) * 1000)
        doc: dict[str, Any] = {
            "_id": ObjectId(), "type": type, "subType": sub_type, "level": level,
            "message": str(message)[:MAX_MESSAGE], "userEmail": user, "adminUserEmail": admin_user,
            "timestamp": millis, "ip": ip,
            "expiresAt": _EPOCH + dt.timedelta(milliseconds=millis) + self.retention,  # naive UTC, as BSON keeps it
        }
        if additional_info is not None:
            info = json.dumps(additional_info, default=str)
            if len(info) > MAX_INFO_BYTES:
                info = json.dumps({"dropped": f"additional info of {len(info)} bytes is over {MAX_INFO_BYTES}"})
            doc["additionalInfo"] = info
        return doc

    # --- reading ---------------------------------------------------------------------------------

    def query(self, q: LogQuery) -> dict[str, Any]:
        """``{total, offset, items}``; ``offset`` is the id of the last item, to send back as ``_offset``."""
        self.flush(timeout=1.0)  # this process's queued logs are readable at once (unless the store hangs)
        cond = _filter(q)
        direction = pymongo.DESCENDING if q.descending else pymongo.ASCENDING
        try:
            total = self.col.count_documents(cond, maxTimeMS=self.max_time_ms) if cond else \
                self.col.estimated_document_count()
            docs: list[dict[str, Any]] = []
            if q.size:
                selector = self._after(cond, q.after, q.descending) if q.after is not None else cond
                cursor = self.col.find(selector, {"expiresAt": 0}, max_time_ms=self.max_time_ms)
                cursor = cursor.sort([(key, direction) for key, _ in _ORDER]).skip(q.skip).limit(q.size)
                docs = list(cursor)
        except ExecutionTimeout:
            raise BadRequest("The log query took too long: narrow it with period, from/to or level") from None
        return page(total, docs, render)

    def _after(self, cond: dict[str, Any], after: ObjectId, descending: bool) -> dict[str, Any]:
        """Keyset paging on ``(timestamp, _id)``: the logs strictly past the given one in the sort order."""
        anchor = self.col.find_one({"_id": after}, {"timestamp": 1})
        if anchor is None:
            raise invalid_param("_offset", "no log has this id (it may have expired)")
        ts = anchor["timestamp"]
        beyond, past = ("$lte", "$gte") if descending else ("$gte", "$lte")
        keyset = [{"timestamp": {beyond: ts}}, {"$nor": [{"timestamp": ts, "_id": {past: after}}]}]
        return {"$and": [cond, *keyset]} if cond else {"$and": keyset}


def _filter(q: LogQuery) -> dict[str, Any]:
    cond: dict[str, Any] = {}
    span: dict[str, int] = {}
    if q.time_from is not None:
        span["$gte"] = q.time_from
    if q.time_to is not None:
        span["$lte"] = q.time_to
    if span:
        cond["timestamp"] = span
    if q.levels:
        cond["level"] = {"$in": list(q.levels)}
    if q.message:
        cond["message"] = {"$regex": re.escape(q.message), "$options": "i"}
    if q.user_email:
        cond["userEmail"] = {"$regex": re.escape(q.user_email), "$options": "i"}
    return cond


def render(doc: dict[str, Any]) -> dict[str, Any]:
    out = {"id": str(doc["_id"]), "type": doc.get("type"), "subType": doc.get("subType"), "level": doc.get("level"),
           "message": doc.get("message"), "userEmail": doc.get("userEmail"),
           "adminUserEmail": doc.get("adminUserEmail"), "timestamp": doc.get("timestamp"), "ip": doc.get("ip")}
    if doc.get("additionalInfo") is not None:
        out["additionalInfo"] = json.loads(doc["additionalInfo"])
    return out


def _request_identity(admin_user: str | None, ip: str | None) -> tuple[str, str | None, str | None]:
    from core.identity import client_ip

    if not has_request_context() or g.get("user") is None:
        return SYSTEM_USER, admin_user, ip
    admin = g.get("admin_user")
    return g.user["email"], admin_user or (admin["email"] if admin else None), ip or client_ip()
