"""Schedules: CRUD in ``sys.schedules`` and firing due ones as ``SCHEDULE`` jobs.

Exactly once per (schedule, fire time), however many clocks run: a clock that finds a schedule due first
inserts ``{_id: "<scheduleId>:<fireTime>"}`` into ``sys.scheduleFires``; only the clock whose insert wins
submits the job. Fire times missed while no clock ran collapse into one: a due schedule fires its latest
fire time at or before now, then ``nextRunAt`` moves past now.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pymongo
from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from core.errors import NotFound, ValidationFailed, field_error
from core.http import offset_param
from jobs.model import now_ms, parse_job_id
from jobs.schedules.cron import cron_problem, latest_due, next_after, timezone_problem
from jobs.schedules.kinds import HANDLER, ScheduleKind

log = logging.getLogger("jobs.schedules")

SCHEDULES = "sys.schedules"
FIRES = "sys.scheduleFires"
SCHEDULE_JOB = "SCHEDULE"
FIRE_RECORD_DAYS = 7
KIND_NAMES = ("handler", "action")
PUBLIC = ("name", "cron", "timezone", "handler", "action", "enabled", "lastRunAt", "nextRunAt", "lastJobId",
          "createDate")


def render(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": str(doc["_id"])}
    for name in PUBLIC:
        out[name] = doc.get(name)
    return out


class ScheduleService:
    def __init__(self, services: Any):
        self.services = services
        self.col = services.store.collection(SCHEDULES)
        self.fires = services.store.collection(FIRES)
        self.kinds: dict[str, ScheduleKind] = {"handler": HANDLER}

    def register_kind(self, name: str, kind: ScheduleKind) -> None:
        self.kinds[name] = kind

    def ensure_indexes(self) -> None:
        self.col.create_index([("name", pymongo.ASCENDING)], name="unique_name", unique=True)
        self.col.create_index([("enabled", pymongo.ASCENDING), ("nextRunAt", pymongo.ASCENDING)], name="due")
        self.services.store.ensure_ttl(FIRES, "expireAt", "fires_ttl")

    # --- reading -------------------------------------------------------------------------------

    def get(self, raw_id: str) -> dict[str, Any]:
        oid = parse_job_id(raw_id)
        doc = self.col.find_one({"_id": oid}) if oid is not None else None
        if doc is None:
            raise NotFound(f"Schedule '{raw_id}' does not exist")
        return doc

    def list(self, size: int, after: str | None, enabled: bool | None = None) -> dict[str, Any]:
        cond: dict[str, Any] = {} if enabled is None else {"enabled": enabled}
        total = self.col.count_documents(cond)
        skip, cursor = offset_param(after, "schedule")  # the last id of a previous page, or a number to skip
        if cursor is not None:
            cond = {**cond, "_id": {"$gt": cursor}}
        docs = list(self.col.find(cond).sort("_id", pymongo.ASCENDING).skip(skip).limit(size)) if size else []
        return {"total": total, "offset": str(docs[-1]["_id"]) if docs else None, "items": [render(d) for d in docs]}

    # --- writing -------------------------------------------------------------------------------

    def create(self, body: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
        values = self._validated(body)
        now = now_ms()
        doc = {"_id": ObjectId(), **values, "lastRunAt": None, "lastJobId": None, "createDate": now,
               "nextRunAt": next_after(values["cron"], values["timezone"], now) if values["enabled"] else None,
               "runBy": _run_by(user)}
        try:
            self.col.insert_one(doc)
        except DuplicateKeyError:
            raise _duplicate(values["name"]) from None
        return doc

    def update(self, raw_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the given fields (a PUT of the whole schedule works too); the next run is computed again."""
        current = self.get(raw_id)
        merged = {k: current.get(k) for k in ("name", "cron", "timezone", "handler", "action", "enabled")}
        if "handler" in body or "action" in body:
            merged["handler"], merged["action"] = None, None
        merged.update(body)
        values = self._validated(merged)
        values["nextRunAt"] = next_after(values["cron"], values["timezone"], now_ms()) if values["enabled"] else None
        try:
            return self.col.find_one_and_update({"_id": current["_id"]}, {"$set": values},
                                                return_document=ReturnDocument.AFTER) or current
        except DuplicateKeyError:
            raise _duplicate(values["name"]) from None

    def delete(self, raw_id: str) -> dict[str, Any]:
        doc = self.get(raw_id)
        self.col.delete_one({"_id": doc["_id"]})
        return doc

    def set_enabled(self, raw_id: str, enabled: bool) -> dict[str, Any]:
        """Pause (no fire until resumed) or resume (the next fire time after now: paused ones are not made up)."""
        doc = self.get(raw_id)
        nxt = next_after(doc["cron"], doc["timezone"], now_ms()) if enabled else None
        return self.col.find_one_and_update({"_id": doc["_id"]}, {"$set": {"enabled": enabled, "nextRunAt": nxt}},
                                            return_document=ReturnDocument.AFTER) or doc

    def run_now(self, raw_id: str, user: dict[str, Any]) -> dict[str, Any]:
        """``POST /schedules/{id}/run``: a SCHEDULE job right away (paused or not), run as every run of the schedule
        is, by its creator (``requestedBy``: who asked); its job document."""
        doc = self.get(raw_id)
        now = now_ms()
        job = self._submit(doc, now, doc.get("runBy") or user, manual=True, requested_by=user.get("email"))
        self.col.update_one({"_id": doc["_id"]}, {"$set": {"lastRunAt": now, "lastJobId": str(job["_id"])}})
        return job

    def _validated(self, body: dict[str, Any]) -> dict[str, Any]:
        errors: list[dict[str, Any]] = []
        seconds = self.services.config.schedule_seconds
        problem = cron_problem(body.get("cron"), seconds)
        if problem:
            errors.append(field_error("cron", "invalid", problem, rejected=body.get("cron")))
        timezone = body.get("timezone") or "UTC"
        problem = timezone_problem(timezone)
        if problem:
            errors.append(field_error("timezone", "invalid", problem, rejected=timezone))
        given = [k for k in KIND_NAMES if body.get(k) is not None]
        if len(given) != 1:
            errors.append(field_error("handler", "required" if not given else "invalid",
                                      "A schedule runs either a 'handler' (module:function) or an 'action' "
                                      "{entity, action, query}"))
        else:
            kind = self.kinds.get(given[0])
            if kind is None:
                errors.append(field_error(given[0], "invalid", f"Schedules of kind '{given[0]}' cannot run here"))
            else:
                kind.validate(self.services, body[given[0]], errors)
        if errors:
            raise ValidationFailed(errors, message="The schedule is not valid")
        return {"name": body["name"], "cron": " ".join(body["cron"].split()), "timezone": timezone,
                "handler": body.get("handler"), "action": body.get("action"),
                "enabled": bool(body.get("enabled", True))}

    # --- firing --------------------------------------------------------------------------------

    def tick(self, now: int | None = None) -> int:
        """Fire every enabled schedule that is due; returns how many jobs this call submitted."""
        now = now_ms() if now is None else now
        fired = 0
        for doc in list(self.col.find({"enabled": True, "nextRunAt": {"$lte": now}})):
            try:
                fired += self._fire(doc, latest_due(doc["cron"], doc["timezone"], now))
            except Exception:  # one broken schedule must not stop the others
                log.exception("schedule %s could not fire", doc.get("_id"))
        return fired

    def _fire(self, doc: dict[str, Any], fire_time: int) -> int:
        fire_id = f"{doc['_id']}:{fire_time}"
        stamp = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        try:
            self.fires.insert_one({"_id": fire_id, "scheduleId": str(doc["_id"]), "fireTime": fire_time,
                                   "createdAt": stamp, "expireAt": stamp + dt.timedelta(days=FIRE_RECORD_DAYS)})
            won = True
        except DuplicateKeyError:
            won = False  # another clock fired this one
        nxt = next_after(doc["cron"], doc["timezone"], fire_time)
        changes: dict[str, Any] = {"$max": {"nextRunAt": nxt}}
        if won:
            job = self._submit(doc, fire_time, doc.get("runBy") or {}, manual=False)
            self.fires.update_one({"_id": fire_id}, {"$set": {"jobId": str(job["_id"])}})
            changes["$set"] = {"lastRunAt": now_ms(), "lastJobId": str(job["_id"])}
        self.col.update_one({"_id": doc["_id"], "enabled": True}, changes)
        return 1 if won else 0

    def _submit(self, doc: dict[str, Any], fire_time: int, user: dict[str, Any], manual: bool,
                requested_by: str | None = None) -> dict[str, Any]:
        kind = "handler" if doc.get("handler") else "action"
        data = {"scheduleId": str(doc["_id"]), "scheduleName": doc["name"], "fireTime": fire_time,
                "manual": manual, "kind": kind, kind: doc[kind]}
        if requested_by is not None:
            data["requestedBy"] = requested_by
        runner = {"_id": user.get("_id") or user.get("id"), "email": user.get("email"),
                  "fullName": user.get("fullName"), "developer": user.get("developer", True)}
        return self.services.jobs.submit(SCHEDULE_JOB, f"Running schedule {doc['name']}", data, runner)


def _run_by(user: dict[str, Any]) -> dict[str, Any]:
    return {"_id": str(user["_id"]), "email": user.get("email"), "fullName": user.get("fullName"),
            "developer": bool(user.get("developer"))}


def _duplicate(name: str) -> ValidationFailed:
    return ValidationFailed([field_error("name", "duplicate", f"Another schedule is named '{name}'", rejected=name)])

