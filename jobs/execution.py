"""Runs one job: claim it, call its runner, finish it. The only implementation of job execution: the RQ
function ``run_job`` and the embedded thread runner both end up in ``execute``."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from jobs.current import running
from jobs.model import ACTIVE, FINISHED, now_ms, public_type
from jobs.runners import JobContext, JobFailed, JobInterrupted

if TYPE_CHECKING:
    from flask import Flask

    from jobs.service import JobService

log = logging.getLogger("jobs.execution")


class _Process:
    """The app of an RQ worker process: the composition root registers how to build it (``configure``)
    before the worker forks its job processes, which inherit it."""

    factory: Callable[[], Flask] | None = None
    app: Flask | None = None


def configure(app_factory: Callable[[], Flask]) -> None:
    _Process.factory = app_factory


def run_job(job_id: str) -> None:
    """The RQ job function: builds the app (once per process) and executes the job."""
    if _Process.app is None:
        if _Process.factory is None:
            raise RuntimeError("jobs.execution.configure(app_factory) was not called in this worker process")
        _Process.app = _Process.factory()
    with _Process.app.app_context():
        execute(_Process.app.extensions["runtime"].jobs, ObjectId(job_id))


def execute(jobs: JobService, job_id: ObjectId, cancelled: Callable[[], bool] = lambda: False) -> None:
    token = uuid.uuid4().hex
    job = jobs.repo.claim(job_id, token)
    if job is None:
        return  # stopped, canceled, finished or owned by another execution meanwhile
    runner = jobs.runners.get(public_type(job["type"]))  # a job stored under a former type name still runs
    resumed = job.get("checkpoint") is not None or job.get("inFlight") is not None
    jobs.logs.write(job_id, "INFO", "Resuming from the last checkpoint" if resumed else "Starting processing")
    ctx = JobContext(jobs, job, token, cancelled)
    extra: dict[str, Any] = {}
    has_errors = False
    with running(job):  # jobs submitted from here until the runner returns are children of this one
        if not resumed:
            jobs.notify("started", job)
        beat = Heartbeat(jobs, job_id, token)
        try:
            if runner is None:
                raise LookupError(f"No runner is registered for job type {job['type']}")
            extra = runner(ctx) or {}
        except JobInterrupted:
            return
        except JobFailed as exc:
            jobs.logs.write(job_id, "ERROR", f"The job failed: {exc}")
            extra, has_errors = exc.results, True
        except Exception as exc:
            log.exception("job %s failed", job_id)
            jobs.logs.write(job_id, "ERROR", f"The job failed: {exc}")
            has_errors = True
        finally:
            _flush_background(jobs, job_id)
            beat.stop()
    done = _finish(jobs, ctx, token, extra, has_errors)
    if done is not None:
        jobs.notify("failed" if done.get("hasErrors") else "finished", done)


def _flush_background(jobs: JobService, job_id: ObjectId) -> None:
    """What the job queued for background threads (history entries) is written before it is reported done,
    and before an RQ job process exits (it skips atexit)."""
    for hook in jobs.services.plugins.flush_hooks:
        try:
            hook()
        except Exception:  # queued work is also safe in the store (e.g. history in its record's outbox)
            log.exception("flushing background work after job %s failed", job_id)


class Heartbeat:
    """Beats for a running job from a background thread, a third of ``stale_seconds`` apart, however long one
    step of the runner takes: only a job whose worker died stops beating and is declared stale. The thread
    ends with the execution, or as soon as the job is no longer owned by it (force-stopped, swept)."""

    def __init__(self, jobs: JobService, job_id: ObjectId, token: str):
        self._jobs, self._job_id, self._token = jobs, job_id, token
        self._interval = max(0.05, jobs.settings.stale_seconds / 3)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-heartbeat-{job_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                owned = self._jobs.repo.owned_update(self._job_id, self._token, {"$set": {"heartbeat": now_ms()}})
            except Exception:  # a store hiccup: try again at the next beat
                log.exception("heartbeat of job %s failed", self._job_id)
                continue
            if owned is None:
                return

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)


def _finish(jobs: JobService, ctx: JobContext, token: str, extra: dict[str, Any],
            has_errors: bool) -> dict[str, Any] | None:
    changes: dict[str, Any] = {"status": FINISHED, "endDate": now_ms(), "progress": 100, "runner": None,
                               "inFlight": None, "heartbeat": now_ms()}
    for key, value in extra.items():
        changes[f"results.{key}"] = value
    if has_errors:
        changes["hasErrors"] = True
    done = jobs.repo.transition(ctx.job_id, ACTIVE, changes, {"runner": token})
    if done is None:
        return None  # force-stopped while finishing
    jobs.logs.write(ctx.job_id, "INFO", f"Process completed: {done.get('recordsProcessed', 0)} records processed")
    if done.get("parentJob"):
        jobs.repo.child_finished(done["parentJob"]["id"])
    return done
