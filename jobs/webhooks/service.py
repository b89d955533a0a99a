"""Webhook deliveries: one ``sys.webhookDeliveries`` document per event sent to one URL.

A delivery is created ``PENDING`` with its exact body (so every attempt sends the same bytes and signature)
and a ``WEBHOOK`` job makes one attempt: 2xx → ``SUCCEEDED``; anything else → ``RETRYING`` after the next
backoff step (``WEBHOOK_RETRY_SECONDS``), or ``FAILED`` once the steps are used up. The clock submits the
retries that are due and takes back attempts whose worker died mid-send (``SENDING`` for too long: sent again,
or ``FAILED`` when that was the last attempt), so a delivery is sent at least once and ends ``SUCCEEDED`` or
``FAILED``; receivers deduplicate on ``deliveryId``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pymongo
from bson import ObjectId
from pymongo import ReturnDocument

from core.errors import NotFound, ValidationFailed, field_error
from core.http import offset_param
from jobs.model import CANCELED, FINISHED, now_ms
from jobs.webhooks.http import RESERVED_HEADERS, USER_AGENT, post, sign, url_problem

log = logging.getLogger("jobs.webhooks")

DELIVERIES = "sys.webhookDeliveries"
WEBHOOK_JOB = "WEBHOOK"
PENDING, SENDING, RETRYING, SUCCEEDED, FAILED = "PENDING", "SENDING", "RETRYING", "SUCCEEDED", "FAILED"
STATUSES = (PENDING, SENDING, RETRYING, SUCCEEDED, FAILED)
SEND_GRACE_MS = 60_000  # on top of the timeout: a SENDING attempt older than that lost its worker
ORPHANS_PER_TICK = 500  # PENDING deliveries whose job ended, looked at per clock tick
PUBLIC = ("entity", "listener", "event", "recordId", "url", "status", "attempts", "lastResponseCode", "lastError",
          "createDate", "lastAttemptAt", "nextAttemptAt", "deliveredAt", "lastJobId")


def render(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": doc["_id"], "deliveryId": doc["_id"]}
    for name in PUBLIC:
        out[name] = doc.get(name)
    return out


class WebhookService:
    def __init__(self, services: Any):
        self.services = services
        self.config = services.config
        self.col = services.store.collection(DELIVERIES)

    def ensure_indexes(self) -> None:
        self.col.create_index([("status", 1), ("nextAttemptAt", 1)], name="due")
        self.col.create_index([("entity", 1), ("createDate", -1)], name="by_entity")

    # --- sending -------------------------------------------------------------------------------

    def enqueue(self, webhook: dict[str, Any], payload: dict[str, Any], user: dict[str, Any],
                listener: str | None = None) -> dict[str, Any]:
        """Create a delivery of ``payload`` (``event``, ``entity``, ``record``, ``oldRecord``...) and queue its
        first attempt. The body gets ``timestamp`` and ``deliveryId``."""
        delivery_id = str(ObjectId())
        now = now_ms()
        body = json.dumps({**payload, "timestamp": now, "deliveryId": delivery_id}, default=str,
                          separators=(",", ":"))
        record = payload.get("record") or payload.get("oldRecord") or {}
        doc = {"_id": delivery_id, "entity": payload.get("entity"), "listener": listener,
               "event": payload.get("event"), "recordId": record.get("id"),
               "url": webhook["url"], "secret": webhook.get("secret") or "", "headers": webhook.get("headers") or {},
               "timeout": webhook.get("timeout"),
               "body": body, "status": PENDING, "attempts": 0, "lastResponseCode": None, "lastError": None,
               "createDate": now, "lastAttemptAt": None, "nextAttemptAt": None, "deliveredAt": None,
               "lastJobId": None, "runBy": _run_by(user)}
        self.col.insert_one(doc)
        self._submit(doc)
        return doc

    def _submit(self, doc: dict[str, Any]) -> None:
        job = self.services.jobs.submit(
            WEBHOOK_JOB, f"Webhook {doc['event']} of {doc['entity']} to {doc['url']}",
            {"deliveryId": doc["_id"], "entityName": doc.get("entity"), "url": doc["url"]}, doc["runBy"],
            stoppable=False)
        self.col.update_one({"_id": doc["_id"]}, {"$set": {"lastJobId": str(job["_id"])}})

    def attempt(self, delivery_id: str) -> dict[str, Any]:
        """One attempt (the WEBHOOK job); the delivery after it. A delivery not PENDING is left alone."""
        now = now_ms()
        doc = self.col.find_one_and_update({"_id": delivery_id, "status": PENDING},
                                           {"$set": {"status": SENDING, "lastAttemptAt": now},
                                            "$inc": {"attempts": 1}}, return_document=ReturnDocument.AFTER)
        if doc is None:
            return self.col.find_one({"_id": delivery_id}) or {"_id": delivery_id, "status": None}
        problem: str | None = None
        try:
            problem = url_problem(doc["url"], self.config.webhook_allowed_hosts)
            timeout = doc.get("timeout") or self.config.webhook_timeout_seconds  # the listener's, or the default
            body = doc["body"].encode()
            code, error = (None, problem) if problem else post(doc["url"], body, self._headers(doc, body), timeout)
        except Exception as exc:  # a failed attempt like any other (raised, it left the delivery SENDING for good)
            log.exception("webhook delivery %s: the attempt raised", delivery_id)
            code, error = None, f"{type(exc).__name__}: {exc}"
        changes: dict[str, Any] = {"lastResponseCode": code, "lastError": error}
        if code is not None and 200 <= code < 300:
            changes.update(status=SUCCEEDED, deliveredAt=now_ms(), nextAttemptAt=None, lastError=None)
        else:
            if code is not None:
                changes["lastError"] = f"HTTP {code}"
            steps = self.config.webhook_retry_seconds
            if problem or doc["attempts"] > len(steps):
                changes.update(status=FAILED, nextAttemptAt=None)
            else:
                changes.update(status=RETRYING, nextAttemptAt=now_ms() + int(steps[doc["attempts"] - 1] * 1000))
        done = self.col.find_one_and_update({"_id": delivery_id, "status": SENDING}, {"$set": changes},
                                            return_document=ReturnDocument.AFTER) or doc
        if done.get("status") == RETRYING and self.services.clock is not None:
            self.services.clock.start()
        return done

    def _headers(self, doc: dict[str, Any], body: bytes) -> dict[str, str]:
        headers = {k: str(v) for k, v in (doc.get("headers") or {}).items() if k.lower() not in RESERVED_HEADERS}
        headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT,
                        "X-Signature": sign(doc.get("secret") or "", body), "X-Delivery-Id": doc["_id"],
                        "X-Event": str(doc.get("event"))})
        return headers

    def tick(self, now: int | None = None) -> int:
        """The clock's part: queue due retries, take back attempts whose worker died. Returns how many."""
        now = now_ms() if now is None else now
        queued = 0
        for doc in list(self.col.find({"status": RETRYING, "nextAttemptAt": {"$lte": now}})):
            queued += self._requeue(doc, {"status": RETRYING, "nextAttemptAt": doc["nextAttemptAt"]}, {})
        lost_before = now - int(self.config.webhook_timeout_seconds * 1000) - SEND_GRACE_MS
        lost = "The worker sending this attempt stopped"
        for doc in list(self.col.find({"status": SENDING, "lastAttemptAt": {"$lt": lost_before}})):
            expected = {"status": SENDING, "lastAttemptAt": doc["lastAttemptAt"]}
            if doc.get("attempts", 0) > len(self.config.webhook_retry_seconds):  # that was the last attempt
                self.col.update_one({"_id": doc["_id"], **expected},
                                    {"$set": {"status": FAILED, "nextAttemptAt": None,
                                              "lastError": f"{lost}; no retries left"}})
            else:
                queued += self._requeue(doc, expected, {"lastError": f"{lost}; sending again"})
        return queued + self._requeue_orphans(now)

    def _requeue_orphans(self, now: int) -> int:
        """PENDING deliveries whose WEBHOOK job ended without attempting them (canceled or killed with the job
        that started them) or was never made: queued again, so every delivery ends SUCCEEDED or FAILED. A
        stopped job is left to its resume."""
        waiting = list(self.col.find({"status": PENDING, "createDate": {"$lt": now - SEND_GRACE_MS}},
                                     {"lastJobId": 1}).limit(ORPHANS_PER_TICK))
        if not waiting:
            return 0
        job_ids = [ObjectId(d["lastJobId"]) for d in waiting if ObjectId.is_valid(d.get("lastJobId") or "")]
        jobs = {str(j["_id"]): j.get("status") for j in self.services.jobs.repo.col.find(
            {"_id": {"$in": job_ids}}, {"status": 1})}
        queued = 0
        for doc in waiting:
            status = jobs.get(doc.get("lastJobId") or "")
            if status in (None, CANCELED, FINISHED):
                queued += self._requeue(doc, {"status": PENDING, "lastJobId": doc.get("lastJobId")},
                                        {"lastError": "The job that was to send it ended first; sending again"})
        return queued

    def _requeue(self, doc: dict[str, Any], expected: dict[str, Any], extra: dict[str, Any]) -> int:
        """PENDING again (only one clock wins the compare-and-set) and a new WEBHOOK job."""
        taken = self.col.find_one_and_update({"_id": doc["_id"], **expected},
                                             {"$set": {"status": PENDING, "nextAttemptAt": None, **extra}},
                                             return_document=ReturnDocument.AFTER)
        if taken is None:
            return 0
        try:
            self._submit(taken)
        except Exception:
            log.exception("could not queue the retry of webhook delivery %s", doc["_id"])
            self.col.update_one({"_id": doc["_id"], "status": PENDING},
                                {"$set": {"status": RETRYING, "nextAttemptAt": now_ms()}})
            return 0
        return 1

    # --- reading -------------------------------------------------------------------------------

    def get(self, delivery_id: str) -> dict[str, Any]:
        doc = self.col.find_one({"_id": delivery_id})
        if doc is None:
            raise NotFound(f"Webhook delivery '{delivery_id}' does not exist")
        return doc

    def list(self, entity: str | None, statuses: list[str] | None, size: int, after: str | None) -> dict[str, Any]:
        """Newest first: ``{total, offset, items}``; ``offset`` is the last delivery id, sent back as ``_offset``
        (or a number of deliveries to skip)."""
        cond: dict[str, Any] = {}
        if entity:
            cond["entity"] = entity
        if statuses:
            bad = [s for s in statuses if s not in STATUSES]
            if bad:
                raise ValidationFailed([field_error("status", "invalid", f"status is a comma list of "
                                                    f"{', '.join(STATUSES)}", rejected=",".join(bad))])
            cond["status"] = {"$in": statuses}
        skip, cursor = offset_param(after, "delivery")  # a number to skip or a delivery id; else a 400 naming it
        total = self.col.count_documents(cond)
        if cursor is not None:
            cond = {**cond, "_id": {"$lt": str(cursor)}}  # ids are the hex of ObjectIds: text order is time order
        docs = list(self.col.find(cond, {"body": 0, "secret": 0}).sort("_id", pymongo.DESCENDING).skip(skip)
                    .limit(size)) if size else []
        return {"total": total, "offset": docs[-1]["_id"] if docs else None, "items": [render(d) for d in docs]}


def _run_by(user: dict[str, Any]) -> dict[str, Any]:
    return {"_id": str(user.get("_id") or user.get("id") or ""), "email": user.get("email"),
            "fullName": user.get("fullName"), "developer": bool(user.get("developer"))}

