"""The job document in ``sys.jobs``: statuses, field names, how a new one looks and how it is shown.

Public fields follow the platform's job JSON. Internal fields (never rendered):

* ``checkpoint``: where a resumed run continues (runner-defined, e.g. the last processed ``_id``);
* ``inFlight``: the keys of the batch being processed, written before the batch starts, so a run killed
  mid-batch lets the next run tell "done by the killed run" from "never existed";
* ``runner``: a token owned by the one execution holding the job; every progress write is fenced on it;
* ``heartbeat``: epoch millis of the owner's last write; a stale one means the worker died;
* ``rqJobId``: the RQ job of the latest enqueue (forceStop and kill target it);
* ``runByEmail`` / ``runByDeveloper``: to rebuild the write context of the user who ran the job;
* ``impersonatorEmail`` / ``ip``: the developer impersonating that user and the client address of the request
  that submitted the job, so its history entries and app logs say so as the request's own writes do.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from bson import ObjectId

JOBS = "sys.jobs"
JOB_LOGS = "sys.jobLogs"

PENDING, RUNNING, FINISHED = "PENDING", "RUNNING", "FINISHED"
STOPPING, STOPPED, CANCELING, CANCELED = "STOPPING", "STOPPED", "CANCELING", "CANCELED"
STATUSES = (PENDING, RUNNING, FINISHED, STOPPING, STOPPED, CANCELING, CANCELED)
ACTIVE = (RUNNING, STOPPING)  # an execution owns the job
NOT_ENDED = (PENDING, RUNNING, STOPPING, STOPPED)  # what kill ends (CANCELING is listed, never set)

RESULTS_CAP = 1000  # per-record result maps keep at most this many entries
# ... and at most about this many bytes: past it an entry keeps its status without its ``response`` (a
# record, a custom response), so a job document stays well under MongoDB's 16 MB whatever the records hold.
RESULTS_MAX_BYTES = 8 * 1024 * 1024


def storable_result_key(key: str) -> bool:
    """Whether ``key`` can name an entry of a job's per-record results, which are kept as fields of the job
    document (``results.results.<key>``): not empty, no ``.``, no leading ``$``, no NUL."""
    return bool(key) and "." not in key and not key.startswith("$") and "\x00" not in key


# Type names that earlier versions stored → the public name such jobs are shown, filtered and run under.
# Mapped on read, never rewritten, so jobs queued by an older process still run and show the public name.
FORMER_TYPES: dict[str, str] = {"LISTENER": "EXECUTE_LISTENER"}

# Job types the platform documents that no process of this runtime runs (apps, users and endpoints are
# deployed and managed outside it): a ``type`` filter may name them, and simply finds no jobs.
PLATFORM_TYPES = ("START_APP", "STOP_APP", "IMPORT_USERS", "EXPORT_USERS", "DEPLOY_ENDPOINT", "UNDEPLOY_ENDPOINT")

PUBLIC_FIELDS = ("label", "type", "runBy", "parentJob", "rootJob", "createDate", "startDate", "endDate",
                 "status", "hasErrors", "progress", "recordsCount", "recordsProcessed", "childrenJobsCount",
                 "childrenJobsProcessed", "stoppable", "lowPriority", "data", "results")


def now_ms() -> int:
    return int(time.time() * 1000)


def new_job(job_type: str, label: str, data: dict[str, Any], user: dict[str, Any], low_priority: bool = False,
            parent: dict[str, Any] | None = None, stoppable: bool = True, impersonator_email: str | None = None,
            ip: str | None = None) -> dict[str, Any]:
    """A PENDING job document run by ``user`` (a ``sys.users`` document), maybe while impersonated by
    ``impersonator_email``, submitted from ``ip``."""
    job_id = ObjectId()
    parent_ref = {"id": str(parent["_id"]), "label": parent.get("label")} if parent else None
    root_ref = (parent.get("rootJob") or parent_ref) if parent else None
    return {
        "_id": job_id, "label": label, "type": job_type,
        "runBy": {"id": str(user["_id"]), "fullName": user.get("fullName")},
        "parentJob": parent_ref, "rootJob": root_ref,
        "createDate": now_ms(), "startDate": None, "endDate": None,
        "status": PENDING, "hasErrors": False, "progress": 0,
        "recordsCount": 0, "recordsProcessed": 0, "childrenJobsCount": 0, "childrenJobsProcessed": 0,
        "stoppable": stoppable, "lowPriority": bool(low_priority), "data": data, "results": {},
        "checkpoint": None, "inFlight": None, "runner": None, "heartbeat": None, "rqJobId": None,
        "runByEmail": user.get("email"), "runByDeveloper": bool(user.get("developer")),
        "impersonatorEmail": impersonator_email, "ip": ip,
    }


def public_type(stored: str | None) -> str | None:
    """The type a stored job is known by (see ``FORMER_TYPES``)."""
    return FORMER_TYPES.get(stored, stored) if stored is not None else None


def stored_types(public: Iterable[str]) -> list[str]:
    """The stored type names of the jobs whose public type is one of ``public`` (for a ``type`` filter): a
    former name is an alias of its public one (``type=LISTENER`` finds the ``EXECUTE_LISTENER`` jobs)."""
    wanted = list(dict.fromkeys(FORMER_TYPES.get(t, t) for t in public))
    return wanted + [old for old, new in FORMER_TYPES.items() if new in wanted]


def public_type_expr(field: str = "$type") -> dict[str, Any] | str:
    """``public_type`` as an aggregation expression over ``field``."""
    if not FORMER_TYPES:
        return field
    return {"$switch": {"branches": [{"case": {"$eq": [field, old]}, "then": new} for old, new in FORMER_TYPES.items()],
                        "default": field}}


def render(doc: dict[str, Any]) -> dict[str, Any]:
    """The job JSON of the API."""
    out: dict[str, Any] = {"id": str(doc["_id"])}
    for name in PUBLIC_FIELDS:
        out[name] = doc.get(name)
    out["type"] = public_type(out["type"])
    return out


def parse_job_id(raw: str) -> ObjectId | None:
    try:
        return ObjectId(raw)
    except Exception:
        return None
