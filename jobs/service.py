"""Job operations: submit, read, list, stop/resume/forceStop/cancel/kill, and the stale-worker sweep.

Other packages register runners (``register_runner``) and call ``services.jobs.submit(...)`` (see
``jobs.runners``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from flask import g, has_request_context

from core.config import Config
from core.errors import BadRequest, Forbidden, NotFound, unavailable_message
from core.http import name_list, offset_param
from core.identity import client_ip
from core.services import Services
from jobs.current import current_job
from jobs.dispatch import Dispatcher, new_rq_id
from jobs.logs import JobLogs
from jobs.model import (
    ACTIVE,
    CANCELED,
    FINISHED,
    FORMER_TYPES,
    NOT_ENDED,
    PENDING,
    PLATFORM_TYPES,
    RUNNING,
    STATUSES,
    STOPPED,
    STOPPING,
    new_job,
    now_ms,
    parse_job_id,
    public_type,
    render,
    stored_types,
)
from jobs.repository import JobRepository
from jobs.runners import Runner

log = logging.getLogger("jobs.service")


def submitted_from(user: dict[str, Any], parent: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """The impersonating developer and client address a new job of ``user`` keeps for its writes and logs:
    those of the request that submits it for its own caller, else those of a parent job run by the same user."""
    caller = g.get("user") if has_request_context() else None
    # the id as the job's user gives it: an ObjectId, or its text (the cascades take it from a write context)
    if caller is not None and user.get("_id") and str(caller.get("_id")) == str(user.get("_id")):
        admin = g.get("admin_user")
        return (admin["email"] if admin else None), client_ip()
    if parent is not None and parent.get("runByEmail") == user.get("email"):
        return parent.get("impersonatorEmail"), parent.get("ip")
    return None, None


REQUEUE_GRACE_SECONDS = 5  # a job younger than this may still be on its way into the queue
REQUEUE_EVERY_SECONDS = 5


@dataclass
class JobSettings:
    batch_size: int = 200
    transfer_batch_size: int = 1000  # import and export rows: cheap each, so a batch holds more of them
    stale_seconds: int = 30
    embedded_threads: int = 2
    rq_job_timeout: int = 24 * 3600

    @classmethod
    def from_config(cls, config: Config) -> JobSettings:
        return cls(batch_size=config.jobs_batch_size, transfer_batch_size=config.transfer_batch_size,
                   stale_seconds=config.jobs_stale_seconds,
                   embedded_threads=config.jobs_embedded_threads, rq_job_timeout=config.jobs_rq_timeout)


@dataclass
class ListFilters:
    types: list[str] | None = None
    statuses: list[str] | None = None
    has_errors: bool | None = None
    ranges: dict[str, tuple[int | None, int | None]] | None = None  # field → (from, to), epoch millis


class JobService:
    def __init__(self, services: Services, settings: JobSettings, dispatcher: Dispatcher | None = None):
        self.services = services
        self.settings = settings
        self.repo = JobRepository(services.store)
        self.logs = JobLogs(services.store)
        self.dispatcher: Dispatcher = dispatcher  # type: ignore[assignment]  # set by the plugin
        self._last_requeue = 0
        self.runners: dict[str, Runner] = {}
        self.internal_types: set[str] = set()  # see ``register_runner``
        # fn(event, job) on "started" (first run only), "finished" and "failed" (finished with errors);
        # called in the worker, a failing one is logged.
        self.job_events: list[Callable[[str, dict[str, Any]], None]] = []

    def notify(self, event: str, job: dict[str, Any]) -> None:
        job = {**job, "type": public_type(job.get("type"))}  # hooks see the public type, as the API shows it
        for fn in list(self.job_events):
            try:
                fn(event, job)
            except Exception:
                log.exception("a job %s hook failed for job %s", event, job.get("_id"))

    def register_runner(self, job_type: str, fn: Runner, internal: bool = False) -> None:
        """Make ``fn`` the runner of ``job_type`` (see ``jobs.runners`` for the contract). ``internal``: the
        runtime starts these jobs by itself after a write (listeners, cascades, webhooks, schedules,
        refactorings); they run for the user whose write started them, but they are the app's work, not a job
        that user asked for, and carry what that user may not see (whole records, other entities, webhook URLs):
        only developers see them."""
        self.runners[job_type] = fn
        if internal:
            self.internal_types.add(job_type)

    def ensure_indexes(self) -> None:
        self.repo.ensure_indexes()
        self.logs.ensure_indexes()

    # --- submitting ----------------------------------------------------------------------------

    def submit(self, job_type: str, label: str, data: dict[str, Any], user: dict[str, Any],
               low_priority: bool = False, parent: dict[str, Any] | None = None,
               stoppable: bool = True) -> dict[str, Any]:
        """Create a PENDING job and queue it. Submitted while another job runs in this thread or work horse
        (``jobs.current``), it is that job's child unless ``parent`` names another."""
        parent = parent if parent is not None else current_job()
        impersonator, ip = submitted_from(user, parent)
        doc = new_job(job_type, label, data, user, low_priority, parent, stoppable, impersonator, ip)
        self.repo.insert(doc)
        if parent is not None:
            self.repo.child_created(parent["_id"])
        self.logs.write(doc["_id"], "INFO", f"Job created by {user.get('email')}")
        try:
            self._enqueue(doc)
        except Exception as exc:
            if unavailable_message(exc) is None:
                raise
            # the queue is down: the caller gets a 503, so the job must not start later on its own
            if self.repo.col.delete_one({"_id": doc["_id"], "status": PENDING}).deleted_count and parent is not None:
                self.repo.child_created(parent["_id"], -1)
            raise
        return doc

    def _enqueue(self, doc: dict[str, Any]) -> None:
        rq_id = self.dispatcher.enqueue(doc)
        if rq_id is not None:
            self.repo.col.update_one({"_id": doc["_id"]}, {"$set": {"rqJobId": rq_id, "queuedAt": now_ms()}})
            doc["rqJobId"] = rq_id

    def job_link(self, doc: dict[str, Any]) -> dict[str, str]:
        job_id = str(doc["_id"])
        return {"jobLink": f"{self.services.config.api_prefix}/status/jobs/{job_id}", "jobId": job_id}

    # --- reading -------------------------------------------------------------------------------

    def get(self, raw_id: str, user: dict[str, Any]) -> dict[str, Any]:
        """The job (after the stale sweep), if ``user`` may see it: 404 unknown, 403 someone else's."""
        job_id = parse_job_id(raw_id)
        doc = self.repo.get(job_id) if job_id is not None else None
        if doc is None:
            raise NotFound(f"Job '{raw_id}' does not exist")
        if not user.get("developer") and (doc["runBy"]["id"] != str(user["_id"])
                                          or doc.get("type") in self.internal_types):
            raise Forbidden("You can only see and act on jobs you ran")
        if doc["status"] in ACTIVE and self._is_stale(doc):
            self.sweep_stale()
            doc = self.repo.get(job_id) or doc
        if doc["status"] in (PENDING, RUNNING) and not doc.get("runner"):
            self.requeue_lost_now_and_then()
        return doc

    def list(self, filters: ListFilters, user: dict[str, Any], size: int, after: str | None) -> dict[str, Any]:
        """A page of jobs, newest first. ``types`` are the types jobs run under here (any case; another is a 400
        naming ``type``); ``after`` is the ``offset`` of a previous page or a number of jobs to skip."""
        self.sweep_stale()
        self.requeue_lost_now_and_then()
        cond: dict[str, Any] = {}
        if not user.get("developer"):
            cond["runBy.id"] = str(user["_id"])
            cond["type"] = {"$nin": stored_types(self.internal_types)}
        if filters.types:
            # a former name finds the jobs of its new one; a platform type none of ours has finds none
            known = sorted(set(self.runners) | set(FORMER_TYPES) | set(PLATFORM_TYPES))
            cond["type"] = {**cond.get("type", {}), "$in": stored_types(name_list(filters.types, known, "type"))}
        if filters.statuses:
            cond["status"] = {"$in": list(name_list(filters.statuses, STATUSES, "status"))}  # any case, as levels
        if filters.has_errors is not None:
            cond["hasErrors"] = filters.has_errors
        for name, (low, high) in (filters.ranges or {}).items():
            span = {op: v for op, v in (("$gte", low), ("$lte", high)) if v is not None}
            if span:
                cond[name] = span
        total = self.repo.count(cond)
        skip, cursor = offset_param(after, "job")
        if cursor is not None:
            cond = {**cond, "_id": {"$lt": cursor}}
        docs = self.repo.find(cond, size, skip)
        return {"total": total, "offset": str(docs[-1]["_id"]) if docs else None, "items": [render(d) for d in docs]}

    # --- transitions ---------------------------------------------------------------------------

    # Only root jobs take stop, resume, forceStop and cancel (the contract); kill takes any job. Each one asked of
    # a root also carries to its descendants, which cannot be stopped, resumed, force-stopped or canceled on
    # their own: stopping an import stops the listener jobs it started, and resuming it resumes them. A root that
    # has ended can still act on what it left running.

    def stop(self, raw_id: str, user: dict[str, Any]) -> dict[str, Any]:
        """RUNNING → STOPPING (the worker stops at its next checkpoint); PENDING → STOPPED, whatever the job.

        A job that cannot be interrupted (``stoppable`` false: listener and webhook jobs) is refused only while
        it runs and is the job asked; below a stopped root it runs on and completes (it stays RUNNING)."""
        doc = self._for_action(raw_id, user, "stopped")
        if doc["status"] == RUNNING and doc.get("runner") and not doc.get("stoppable", True):
            raise BadRequest("Jobs of this type cannot be stopped while they run", jobStatus=RUNNING)
        return self._over_tree(doc, user, self._stop_one, (RUNNING, PENDING), "stopped", "Stop requested")

    def _stop_one(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """A job waiting to run (PENDING, or RUNNING again after a resume but not picked up yet) → STOPPED; a
        running one → STOPPING if it can be interrupted. The waiting cases come first: a PENDING job claimed
        meanwhile is then still caught as RUNNING."""
        job_id = job["_id"]
        waiting = (self.repo.transition(job_id, RUNNING, {"status": STOPPED}, {"runner": None})
                   or self.repo.transition(job_id, PENDING, {"status": STOPPED}))
        if waiting is not None or not job.get("stoppable", True):
            return waiting
        return self.repo.transition(job_id, RUNNING, {"status": STOPPING})

    def resume(self, raw_id: str, user: dict[str, Any]) -> dict[str, Any]:
        """STOPPED → RUNNING (PENDING if it never started), queued again to continue from its checkpoint."""
        doc = self._for_action(raw_id, user, "resumed")
        return self._over_tree(doc, user, self._resume_one, (STOPPED,), "resumed", "Resumed")

    def _resume_one(self, job: dict[str, Any]) -> dict[str, Any] | None:
        status = RUNNING if job.get("startDate") else PENDING
        done = self.repo.transition(job["_id"], STOPPED, {"status": status, "runner": None, "heartbeat": now_ms(),
                                                          "queuedAt": now_ms()})
        if done is not None:
            self._enqueue(done)
        return done

    def force_stop(self, raw_id: str, user: dict[str, Any]) -> dict[str, Any]:
        """STOPPING → STOPPED now; the work is killed (RQ) or cancelled (embedded).

        Only a job already asked to stop (the contract: "the status is different from STOPPING" is an error),
        so a graceful stop is always tried first."""
        doc = self._for_action(raw_id, user, "force-stopped")
        return self._over_tree(doc, user, self._force_stop_one, (STOPPING,), "force-stopped", "Force-stopped",
                               level="WARN", note="; the last batch may be partial")

    def _force_stop_one(self, job: dict[str, Any]) -> dict[str, Any] | None:
        done = self.repo.transition(job["_id"], STOPPING, {"status": STOPPED, "runner": None})
        if done is not None:
            self.dispatcher.force_stop(done)
        return done

    def cancel(self, raw_id: str, user: dict[str, Any]) -> dict[str, Any]:
        """STOPPED → CANCELED."""
        doc = self._for_action(raw_id, user, "canceled")
        return self._over_tree(doc, user, self._cancel_one, (STOPPED,), "canceled", "Canceled")

    def _cancel_one(self, job: dict[str, Any]) -> dict[str, Any] | None:
        return self.repo.transition(job["_id"], STOPPED, {"status": CANCELED, "endDate": now_ms()})

    def kill(self, raw_id: str, user: dict[str, Any]) -> dict[str, Any]:
        """Any job that has not ended (PENDING, RUNNING, STOPPING, STOPPED) → FINISHED now, as it stands: its work
        is killed like a force stop's, and its results and progress stay what they were. Unlike the other
        operations a child job may be asked too (only it ends then); a root takes its descendants along."""
        doc = self.get(raw_id, user)
        return self._over_tree(doc, user, self._kill_one, NOT_ENDED, "killed", "Killed", level="WARN")

    def _kill_one(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """The compare-and-set also drops the runner, so nothing the killed execution still writes lands (its
        writes and its finish are fenced on it) and no sweep takes the job for a dead one."""
        done = self.repo.transition(job["_id"], NOT_ENDED, {"status": FINISHED, "endDate": now_ms(), "runner": None})
        if done is not None:
            self.dispatcher.force_stop(done)
            if done.get("parentJob"):
                self.repo.child_finished(done["parentJob"]["id"])
            self.notify("finished", done)  # it is FINISHED: job listeners and the job's app log hear of it
        return done

    def _over_tree(self, root: dict[str, Any], user: dict[str, Any],
                   change: Callable[[dict[str, Any]], dict[str, Any] | None], statuses: tuple[str, ...], verb: str,
                   logged: str, level: str = "INFO", note: str = "") -> dict[str, Any]:
        """Apply ``change`` (a compare-and-set from one of ``statuses``) to the job asked and, when it is a root,
        to each of its descendants. A root that has ended can still act on what it left behind. 400 when nothing
        in the tree was in one of ``statuses``; else the job asked as it is now."""
        done = change(root)
        followed = 0
        below = self.repo.descendants(root["_id"], statuses) if not root.get("parentJob") else []
        for child in below:
            if change(child) is not None:
                self.logs.write(child["_id"], level, f"{logged} with its root job by {user.get('email')}")
                followed += 1
        if done is None and not followed:
            self._invalid(root["_id"], verb, " or ".join(statuses))
        if done is not None:
            self.logs.write(root["_id"], level, f"{logged} by {user.get('email')}{note}")
        return done or self.repo.get(root["_id"]) or root

    def _for_action(self, raw_id: str, user: dict[str, Any], verb: str) -> dict[str, Any]:
        doc = self.get(raw_id, user)
        if doc.get("parentJob"):
            raise BadRequest(f"Only root jobs can be {verb}", jobStatus=doc["status"])
        return doc

    def _invalid(self, job_id: ObjectId, verb: str, allowed: str) -> None:
        current = (self.repo.get(job_id) or {}).get("status")
        raise BadRequest(f"The job cannot be {verb}: its status is {current} (it must be {allowed})", jobStatus=current)

    # --- dead workers --------------------------------------------------------------------------

    def _is_stale(self, doc: dict[str, Any]) -> bool:
        beat = doc.get("heartbeat")
        return bool(doc.get("runner")) and beat is not None and beat < now_ms() - self.settings.stale_seconds * 1000

    def sweep_stale(self) -> int:
        """STOP every owned job whose worker stopped writing (killed, crashed); they can be resumed."""
        cutoff = now_ms() - self.settings.stale_seconds * 1000
        swept = 0
        for doc in self.repo.stale(cutoff):
            done = self.repo.transition(doc["_id"], doc["status"], {"status": STOPPED, "runner": None},
                                        {"runner": doc["runner"], "heartbeat": doc["heartbeat"]})
            if done is not None:
                swept += 1
                self.logs.write(doc["_id"], "WARN", f"The worker running this job stopped responding (no heartbeat "
                                f"for {self.settings.stale_seconds}s); the job was stopped and can be resumed")
        return swept

    def requeue_lost(self, grace_seconds: int = REQUEUE_GRACE_SECONDS) -> int:
        """Queue again every waiting job whose RQ job no longer exists (Redis lost its data), exactly once.

        A compare-and-set from the lost RQ job id to a new one picks one sweeper per lost job; jobs younger than
        ``grace_seconds`` may still be on their way into the queue and are left alone."""
        exists = getattr(self.dispatcher, "exists", None)
        if exists is None:
            return 0
        self._last_requeue = now_ms()
        cutoff = now_ms() - grace_seconds * 1000
        requeued = 0
        for doc in self.repo.claimable():
            lost = doc.get("rqJobId")
            if max(doc.get("createDate") or 0, doc.get("queuedAt") or 0) > cutoff or (lost and exists(lost)):
                continue
            rq_id = new_rq_id(doc)
            won = self.repo.col.find_one_and_update({"_id": doc["_id"], "status": doc["status"], "runner": None,
                                                     "rqJobId": lost}, {"$set": {"rqJobId": rq_id,
                                                                                 "queuedAt": now_ms()}})
            if won is None:
                continue  # another sweeper took it, or it started meanwhile
            self.dispatcher.enqueue(doc, rq_id)  # type: ignore[call-arg]
            self.logs.write(doc["_id"], "WARN", "The job queue lost this job (Redis restarted without its data); "
                            "it was queued again")
            requeued += 1
        return requeued

    def requeue_lost_now_and_then(self) -> None:
        """``requeue_lost`` at most every ``REQUEUE_EVERY_SECONDS`` per process (called from job reads)."""
        if now_ms() - self._last_requeue < REQUEUE_EVERY_SECONDS * 1000:
            return
        try:
            self.requeue_lost()
        except Exception as exc:  # the queue is down: reading jobs still works
            if unavailable_message(exc) is None:
                raise
            log.warning("requeue sweep skipped: %s", exc)

    def enqueue_waiting(self) -> int:
        """Queue every job waiting for a worker (after a restart of an embedded runner)."""
        waiting = self.repo.claimable()
        for doc in waiting:
            self._enqueue(doc)
        return len(waiting)
