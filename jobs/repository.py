"""``sys.jobs`` access. Every status change is a compare-and-set on ``status`` (and, for an execution's own
writes, on its ``runner`` token), so a stop request and a finishing worker never overwrite each other."""

from __future__ import annotations

from typing import Any

import pymongo
from bson import ObjectId
from pymongo import ReturnDocument

from core.storage import Store
from jobs.model import ACTIVE, JOBS, PENDING, RUNNING, now_ms


class JobRepository:
    def __init__(self, store: Store):
        self.col = store.collection(JOBS)

    def ensure_indexes(self) -> None:
        self.col.create_index([("status", 1), ("_id", -1)], name="by_status")
        self.col.create_index([("type", 1), ("_id", -1)], name="by_type")
        self.col.create_index([("runBy.id", 1), ("_id", -1)], name="by_user")
        self.col.create_index([("hasErrors", 1), ("_id", -1)], name="by_errors")
        for name in ("createDate", "startDate", "endDate"):
            self.col.create_index([(name, -1)], name=f"by_{name}")
        self.col.create_index([("status", 1), ("heartbeat", 1)], name="by_heartbeat")
        self.col.create_index([("rootJob.id", 1), ("status", 1)], name="by_root")

    def insert(self, doc: dict[str, Any]) -> None:
        self.col.insert_one(doc)

    def get(self, job_id: ObjectId, projection: dict[str, int] | None = None) -> dict[str, Any] | None:
        return self.col.find_one({"_id": job_id}, projection)

    def find(self, mongo_filter: dict[str, Any], limit: int, skip: int = 0) -> list[dict[str, Any]]:
        cursor = self.col.find(mongo_filter).sort("_id", pymongo.DESCENDING).skip(skip)
        return list(cursor.limit(limit)) if limit else []

    def count(self, mongo_filter: dict[str, Any]) -> int:
        return self.col.count_documents(mongo_filter)

    def transition(self, job_id: ObjectId, expected: str | tuple[str, ...], changes: dict[str, Any],
                   extra_filter: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Set ``changes`` only if the status is (one of) ``expected``; the updated doc, or None if it was not."""
        statuses = (expected,) if isinstance(expected, str) else expected
        cond: dict[str, Any] = {"_id": job_id, "status": {"$in": list(statuses)}, **(extra_filter or {})}
        return self.col.find_one_and_update(cond, {"$set": changes}, return_document=ReturnDocument.AFTER)

    def claim(self, job_id: ObjectId, token: str) -> dict[str, Any] | None:
        """Take ownership of a job waiting to run (PENDING, or RUNNING after a resume with no owner)."""
        now = now_ms()
        doc = self.col.find_one_and_update(
            {"_id": job_id, "status": {"$in": [PENDING, RUNNING]}, "runner": None},
            {"$set": {"status": RUNNING, "runner": token, "heartbeat": now}},
            return_document=ReturnDocument.AFTER)
        if doc is not None and doc.get("startDate") is None:
            self.col.update_one({"_id": job_id, "startDate": None}, {"$set": {"startDate": now}})
            doc["startDate"] = now
        return doc

    def owned_update(self, job_id: ObjectId, token: str, update: dict[str, Any]) -> dict[str, Any] | None:
        """An execution's write, fenced on its token: None means it no longer owns the job. The updated doc
        comes back without ``data`` and ``results`` (the two fields that grow with the job: an ids list, up to
        ``RESULTS_CAP`` outcomes), which a write per batch would otherwise ship back every time."""
        cond = {"_id": job_id, "runner": token, "status": {"$in": list(ACTIVE)}}
        return self.col.find_one_and_update(cond, update, {"data": 0, "results": 0},
                                            return_document=ReturnDocument.AFTER)

    def stale(self, heartbeat_before: int) -> list[dict[str, Any]]:
        """Owned jobs whose owner has not written since ``heartbeat_before``."""
        return list(self.col.find({"status": {"$in": list(ACTIVE)}, "runner": {"$ne": None},
                                   "heartbeat": {"$lt": heartbeat_before}}))

    def descendants(self, root_id: ObjectId, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
        """The jobs below root job ``root_id`` (children, their children, ...) whose status is one of ``statuses``,
        oldest first."""
        cond = {"rootJob.id": str(root_id), "status": {"$in": list(statuses)}}
        return list(self.col.find(cond).sort("_id", 1))

    def claimable(self) -> list[dict[str, Any]]:
        cond = {"status": {"$in": [PENDING, RUNNING]}, "runner": None}
        return list(self.col.find(cond).sort("_id", 1))

    def child_created(self, parent_id: ObjectId, delta: int = 1) -> None:
        """``childrenJobsCount`` += ``delta`` in one atomic update (children may be created concurrently)."""
        self.col.update_one({"_id": parent_id}, {"$inc": {"childrenJobsCount": delta}})

    def child_finished(self, parent_id: str) -> None:
        oid = ObjectId(parent_id)
        self.col.update_one({"_id": oid}, {"$inc": {"childrenJobsProcessed": 1}})
