"""Delete policies that survive a crash, and large ones off the request.

A record whose entity other relationships point at with an ``onDelete`` policy (``removeRelationship``,
``deleteRecord``) gets a marker in ``sys.pendingDeletes`` just before it is deleted; the after-commit hook
(``cascade.apply_policies``) removes it once every referencing record is done. A marker left behind — the
process died between the delete and the end of its cascade, or a cascaded write failed — is finished by a
``CASCADE_DELETE`` job that the clock queues once the marker is ``STALE_MS`` old. The same job takes over at once
when a delete has more than ``INLINE_LIMIT`` referencing records, so the request does not wait for them all.

Applying a policy again is harmless: records already deleted or unlinked no longer match. A marker whose record
was not deleted after all (its delete lost a race and was not retried) is dropped by the job.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from bson import ObjectId

from core.context import WriteContext
from entities.metadata import Entity, Field
from jobs import runners
from jobs.model import CANCELED, FINISHED, now_ms

PENDING_DELETES = "sys.pendingDeletes"
CASCADE_DELETE = "CASCADE_DELETE"
STALE_MS = 60_000  # a marker older than this has no cascade running in a request any more
INLINE_LIMIT = 1000  # referencing records a delete handles in its own request; more go to a job
MARKERS_PER_TICK = 200
MAX_JOBS = 5  # jobs tried for one marker: past them it stays, the failed jobs' logs say why
IN_JOB = "cascadeDeleteJob"  # ctx.extra: the job's heartbeat, when the job applies them (no inline limit)
BUDGET = "cascadeDeleteBudget"  # ctx.extra: the referencing records a request may still handle itself
COUNTS = "cascadeDeleteCounts"  # ctx.extra: what the cascade did (recordsUpdated, recordsDeleted), for the job
QUEUING = "queuing"


def policy_referrers(registry: Any, entity: Entity) -> list[tuple[Entity, Field]]:
    """The relationships pointing at ``entity`` whose ``onDelete`` does something when one of its records goes."""
    return [(e, f) for e, f in registry.referrers_of(entity.name) if f.on_delete != "none"]


def marker_id(entity: Entity, record_id: Any) -> str:
    return f"{entity.name}:{record_id}"


class PendingDeletes:
    """The markers, and the job that finishes them."""

    def __init__(self, services: Any, apply: Callable[[Entity, ObjectId, WriteContext], None]):
        self.services = services
        self.col = services.store.collection(PENDING_DELETES)
        self.apply = apply  # the delete policies of one deleted record (``cascade.apply_policies``)

    def ensure_indexes(self) -> None:
        self.col.create_index([("createdAt", 1)], name="by_age")

    def before_delete(self, entity: Entity, record: dict[str, Any], ctx: WriteContext) -> None:
        if not ctx.cascade or not policy_referrers(self.services.registry, entity):
            return
        user = {"_id": ctx.user_id or "", "email": ctx.user_email, "fullName": ctx.user_name,
                "developer": ctx.developer}
        self.col.update_one({"_id": marker_id(entity, record["_id"])},
                            {"$set": {"entity": entity.name, "recordId": record["_id"], "createdAt": now_ms(),
                                      "user": user, "triggerEvents": ctx.trigger_events, "jobId": None}},
                            upsert=True)

    def done(self, entity: Entity, record_id: Any) -> None:
        self.col.delete_one({"_id": marker_id(entity, record_id)})

    def hand_over(self, entity: Entity, record_id: Any) -> dict[str, Any] | None:
        """A ``CASCADE_DELETE`` job for this record's policies now (too many referencing records for a request)."""
        marker = self.col.find_one({"_id": marker_id(entity, record_id)})
        return self._submit(marker) if marker is not None else None

    # --- the clock and the job ---------------------------------------------------------------------

    def tick(self, now: int) -> int:
        """Queue a job for each marker left behind (no job, or one that ended without removing it), a minute after
        the last one, ``MAX_JOBS`` times at most."""
        stale = list(self.col.find({"createdAt": {"$lt": now - STALE_MS}, "jobs": {"$not": {"$gte": MAX_JOBS}}})
                     .limit(MARKERS_PER_TICK))
        if not stale:
            return 0
        job_ids = [ObjectId(m["jobId"]) for m in stale if ObjectId.is_valid(m.get("jobId") or "")]
        ended = {str(j["_id"]) for j in self.services.jobs.repo.col.find(
            {"_id": {"$in": job_ids}, "status": {"$in": [FINISHED, CANCELED]}}, {"_id": 1})}
        queued = 0
        for marker in stale:
            if marker.get("jobId") in (None, QUEUING) or marker["jobId"] in ended:
                queued += self._submit(marker) is not None
        return queued

    def _submit(self, marker: dict[str, Any]) -> dict[str, Any] | None:
        """The job for ``marker``; None when another process took it first (compare-and-set on ``jobId``)."""
        taken = self.col.update_one({"_id": marker["_id"], "jobId": marker.get("jobId")},  # the next try: a while on
                                    {"$set": {"jobId": QUEUING, "createdAt": now_ms()}, "$inc": {"jobs": 1}})
        if taken.modified_count != 1:
            return None
        try:
            job = self.services.jobs.submit(
                CASCADE_DELETE, f"Apply the delete policies of {marker['entity']} {marker['recordId']}",
                {"entityName": marker["entity"], "recordId": str(marker["recordId"]), "marker": marker["_id"],
                 **({"triggerEvents": False} if marker.get("triggerEvents") is False else {})},
                {"_id": "", **(marker.get("user") or {})})
        except Exception:  # the queue is down: the next tick tries again
            self.col.update_one({"_id": marker["_id"], "jobId": QUEUING}, {"$set": {"jobId": None}})
            raise
        self.col.update_one({"_id": marker["_id"]}, {"$set": {"jobId": str(job["_id"])}})
        return job

    def run(self, jctx: runners.JobContext) -> dict[str, Any] | None:
        """``CASCADE_DELETE``: apply the policies of a deleted record (the response counts the referencing records
        unlinked and deleted); drop the marker of one still stored."""
        data = jctx.data
        entity = self.services.registry.all().get(data["entityName"])
        record_id = ObjectId(data["recordId"])
        if entity is not None and self.services.records.collection(entity).find_one({"_id": record_id}, {"_id": 1}):
            jctx.log("INFO", "The record was not deleted: no delete policy applies")
        elif entity is not None:
            ctx = jctx.write_context(f"entities.{entity.name}.delete")
            ctx.trigger_events = data.get("triggerEvents", True) is not False
            ctx.extra[IN_JOB] = jctx.heartbeat
            counts = ctx.extra.setdefault(COUNTS, Counter())
            self.apply(entity, record_id, ctx)
            self.col.delete_one({"_id": data["marker"]})
            return {"response": {name: counts[name] for name in ("recordsUpdated", "recordsDeleted")}}
        self.col.delete_one({"_id": data["marker"]})
        return None
